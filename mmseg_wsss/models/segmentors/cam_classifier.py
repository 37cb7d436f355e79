from typing import Optional

from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from ..decode_heads.cam_head import stack_img_labels
from ..utils.cam import (cam_to_seg_logits, mask_absent_classes,
                         max_normalize, multiscale_cam)


@MODELS.register_module()
class CAMClassifier(EncoderDecoder):
    """Multi-label image classifier whose prediction is its CAM segmentation.

    Trains like any mmseg segmentor (the :class:`CAMHead` loss on
    ``gt_img_labels``); ``predict()`` fills ``pred_sem_seg`` and
    ``seg_logits`` with the CAM segmentation so the stock ``IoUMetric``
    scores CAM quality, and ``pred_cam`` (K x H x W, in [0, 1]) for
    :class:`CAMMetric`'s threshold sweep.

    ``test_cfg`` keys:
        scales (tuple[float]): CAM scales. Default ``(1.0,)``.
        flip (bool): Add horizontally flipped CAMs. Default False.
        bg_thr (float): Background score. Default 0.2.
        use_img_labels (bool): Keep only the classes of ``gt_img_labels``
            (the image labels are the training supervision, so this is the
            usual protocol for CAMs and pseudo labels); otherwise the
            classes the classifier predicts. Default True.
    """

    def _kept_classes(self, inputs: Tensor,
                          data_samples: OptSampleList) -> Tensor:
        """Classes whose CAMs are kept, B x K (multi-hot)."""
        if self.test_cfg.get('use_img_labels', True):
            if data_samples is None:
                raise ValueError('use_img_labels=True needs data samples with '
                                 'gt_img_labels')
            return stack_img_labels(data_samples).to(inputs.device)
        logits = self.decode_head(self.extract_feat(inputs))
        return (logits > 0).float()

    def generate_cams(self,
                      inputs: Tensor,
                      img_labels: Tensor,
                      scales: Optional[tuple] = None,
                      flip: Optional[bool] = None) -> Tensor:
        """Normalised CAMs of the labelled classes.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            img_labels (Tensor): Multi-hot labels, B x K.
            scales (tuple[float], optional): Defaults to ``test_cfg``.
            flip (bool, optional): Defaults to ``test_cfg``.

        Returns:
            Tensor: CAMs in [0, 1), zero for absent classes, B x K x H x W.
        """
        scales = scales or self.test_cfg.get('scales', (1.0, ))
        flip = self.test_cfg.get('flip', False) if flip is None else flip
        cam = multiscale_cam(
            lambda img: self.decode_head.cam(self.extract_feat(img)),
            inputs,
            scales=scales,
            flip=flip)
        return mask_absent_classes(max_normalize(cam), img_labels)

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """CAM segmentation of a batch (see the class docstring)."""
        img_labels = self._kept_classes(inputs, data_samples)
        cam = self.generate_cams(inputs, img_labels)
        seg_logits = cam_to_seg_logits(cam, self.test_cfg.get('bg_thr', 0.2))
        results = self.postprocess_result(seg_logits, data_samples)
        for result in results:
            result.set_data(
                dict(pred_cam=PixelData(data=result.seg_logits.data[1:])))
        return results
