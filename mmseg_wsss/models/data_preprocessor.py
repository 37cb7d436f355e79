from typing import Any, Dict, Set, Union

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from mmseg.utils import stack_batch

PADDED_FIELDS = ('gt_saliency', 'gt_sal_label')
#: Per-pixel loss weights, padded with 0 (no weight) whatever sal_pad_val is.
ZERO_PADDED_FIELDS = ('gt_pixel_weight', )
#: Channels of one view of a multi-view input.
VIEW_CHANNELS = 3


@MODELS.register_module()
class WSSSDataPreProcessor(SegDataPreProcessor):
    """SegDataPreProcessor for multi-view inputs that also pads the saliency
    maps of a sample.

    An input of ``3 k`` channels, ``k > 1`` (CoSA's weak || strong views,
    cosa.md 2.1 / 5), is ``k`` 3-channel views: each is processed exactly as
    a 3-channel image (BGR->RGB flip, normalisation with the 3-channel
    ``mean`` / ``std``, bottom/right padding to ``size`` or ``size_divisor``
    with ``pad_val``) and the results are concatenated again, giving ``B x
    3k x H x W``. Every sample's ``img_shape`` is the unpadded (valid) box.
    An input of at most 3 channels takes SegDataPreProcessor's path
    unchanged.

    In training, ``gt_saliency`` and ``gt_sal_label`` are padded (bottom and
    right, like ``gt_sem_seg``) to the batch size with ``sal_pad_val``, so
    that the padded pixels are ignored by the saliency loss, and
    ``gt_pixel_weight`` with 0.

    Args:
        sal_pad_val (int | float): Saliency padding value. Defaults to 255.
        **kwargs: :class:`SegDataPreProcessor` arguments.
    """

    def __init__(self, sal_pad_val: Union[int, float] = 255, **kwargs):
        super().__init__(**kwargs)
        self.sal_pad_val = sal_pad_val

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Normalise, pad and stack (see :class:`SegDataPreProcessor`),
        view by view for a multi-view input.

        Raises:
            ValueError: Inputs with different channel counts, more than 3
                channels that are not a multiple of 3, or a multi-view input
                with a ``mean`` that is not 3 values.
        """
        channels = {int(x.shape[0]) for x in data['inputs']}
        if max(channels) <= VIEW_CHANNELS:
            data = super().forward(data, training)
        else:
            data = self._forward_views(data, training, channels)
        if not training:
            return data
        height, width = data['inputs'].shape[2:]
        for sample in data['data_samples']:
            for field in PADDED_FIELDS + ZERO_PADDED_FIELDS:
                if field not in sample:
                    continue
                sal = sample.get(field).data
                pad = (0, width - sal.shape[-1], 0, height - sal.shape[-2])
                if any(pad):
                    value = (0 if field in ZERO_PADDED_FIELDS else
                             self.sal_pad_val)
                    sal = F.pad(sal, pad, value=value)
                sample.set_data({field: PixelData(data=sal)})
        return data

    def _forward_views(self, data: dict, training: bool,
                       channels: Set[int]) -> Dict[str, Any]:
        """SegDataPreProcessor's forward with per-view normalisation: the
        same padding and stacking (mmseg's ``stack_batch``), applied once to
        the whole ``3k``-channel input and its samples."""
        if len(channels) > 1 or max(channels) % VIEW_CHANNELS:
            raise ValueError('a multi-view input needs the same multiple of '
                             f'{VIEW_CHANNELS} channels in every image, got '
                             f'channel counts {sorted(channels)}')
        if self._enable_normalize and self.mean.numel() != VIEW_CHANNELS:
            raise ValueError(f'a multi-view input is normalised per '
                             f'{VIEW_CHANNELS}-channel view, so mean / std '
                             f'need {VIEW_CHANNELS} values, got '
                             f'{self.mean.numel()}')
        data = self.cast_data(data)
        inputs = [self._normalize_views(x) for x in data['inputs']]
        samples = data.get('data_samples')
        if training:
            inputs, samples = stack_batch(
                inputs,
                samples,
                size=self.size,
                size_divisor=self.size_divisor,
                pad_val=self.pad_val,
                seg_pad_val=self.seg_pad_val)
        elif self.test_cfg:
            inputs, pad_infos = stack_batch(
                inputs,
                size=self.test_cfg.get('size', None),
                size_divisor=self.test_cfg.get('size_divisor', None),
                pad_val=self.pad_val,
                seg_pad_val=self.seg_pad_val)
            for sample, pad_info in zip(samples, pad_infos):
                sample.set_metainfo(pad_info)
        else:
            inputs = torch.stack(inputs)
        return dict(inputs=inputs, data_samples=samples)

    def _normalize_views(self, img: torch.Tensor) -> torch.Tensor:
        """BGR->RGB flip (if configured) and normalise each 3-channel view
        of a ``3k x H x W`` image; returns it as float ``3k x H x W``."""
        views = img.float().reshape(-1, VIEW_CHANNELS, *img.shape[1:])
        if self.channel_conversion:
            views = views[:, [2, 1, 0]]
        if self._enable_normalize:
            views = (views - self.mean) / self.std
        return views.flatten(0, 1)
