from typing import Any, Dict, Union

import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS

PADDED_FIELDS = ('gt_saliency', 'gt_sal_label')


@MODELS.register_module()
class WSSSDataPreProcessor(SegDataPreProcessor):
    """SegDataPreProcessor that also pads the saliency maps of a sample.

    In training, ``gt_saliency`` and ``gt_sal_label`` are padded (bottom and
    right, like ``gt_sem_seg``) to the batch size with ``sal_pad_val``, so
    that the padded pixels are ignored by the saliency loss.

    Args:
        sal_pad_val (int | float): Saliency padding value. Defaults to 255.
        **kwargs: :class:`SegDataPreProcessor` arguments.
    """

    def __init__(self, sal_pad_val: Union[int, float] = 255, **kwargs):
        super().__init__(**kwargs)
        self.sal_pad_val = sal_pad_val

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Normalise, pad and stack (see :class:`SegDataPreProcessor`)."""
        data = super().forward(data, training)
        if not training:
            return data
        height, width = data['inputs'].shape[2:]
        for sample in data['data_samples']:
            for field in PADDED_FIELDS:
                if field not in sample:
                    continue
                sal = sample.get(field).data
                pad = (0, width - sal.shape[-1], 0, height - sal.shape[-2])
                if any(pad):
                    sal = F.pad(sal, pad, value=self.sal_pad_val)
                sample.set_data({field: PixelData(data=sal)})
        return data
