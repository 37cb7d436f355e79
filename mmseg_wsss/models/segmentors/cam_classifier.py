from typing import Dict

from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from ...structures import stack_img_labels
from ..utils.cam import (cam_to_seg_logits, mask_absent_classes,
                         max_normalize, multiscale_cam)
from .pseudo_label_source import PseudoLabelSource


@MODELS.register_module()
class CAMClassifier(PseudoLabelSource, EncoderDecoder):
    """Multi-label image classifier whose prediction is its CAM segmentation.

    Trains like any mmseg segmentor (the :class:`CAMHead` loss on
    ``gt_img_labels``); ``predict()`` fills ``pred_sem_seg`` and
    ``seg_logits`` with the CAM segmentation so the stock ``IoUMetric``
    scores CAM quality, and ``pred_cam`` (K x H x W, in [0, 1]) for
    :class:`CAMMetric`'s threshold sweep. :meth:`label_outputs` feeds the
    pseudo-label generators.

    ``test_cfg`` keys:
        scales (tuple[float]): CAM scales. Default ``(1.0,)``.
        flip (bool): Add horizontally flipped CAMs. Default False.
        bg_thr (float): Background score. Default 0.2.
        use_img_labels (bool): Keep only the classes of ``gt_img_labels``
            (the image labels are the training supervision, so this is the
            usual protocol for CAMs and pseudo labels); otherwise the
            classes the classifier predicts (positive logits). Default True.
        predict_missing_labels (bool): With ``use_img_labels``, keep the
            predicted classes of the images that have no ``gt_img_labels``
            (a new photo) instead of raising. Default False.
    """

    def label_outputs(self, inputs: Tensor,
                      with_decode: bool = True) -> Dict[str, Tensor]:
        """:meth:`PseudoLabelSource.label_outputs`: ``cam`` only (a
        classifier has nothing else), whatever ``with_decode``."""
        return dict(cam=self.decode_head.cam(self.extract_feat(inputs)))

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """CAM segmentation of a batch (see the class docstring).

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            data_samples (list[SegDataSample], optional): Their samples.

        Returns:
            list[SegDataSample]: With ``seg_logits`` (background score and
            CAMs), ``pred_sem_seg`` and ``pred_cam``.

        Raises:
            ValueError: ``test_cfg.use_img_labels`` and an image without
                ``gt_img_labels`` (see ``predict_missing_labels``).
        """
        kept = self._kept_classes(inputs, data_samples)
        cam = multiscale_cam(
            lambda img: self.label_outputs(img, with_decode=False)['cam'],
            inputs,
            scales=self.test_cfg.get('scales', (1.0, )),
            flip=self.test_cfg.get('flip', False))
        cam = mask_absent_classes(max_normalize(cam), kept)
        seg_logits = cam_to_seg_logits(cam, self.test_cfg.get('bg_thr', 0.2))
        results = self.postprocess_result(seg_logits, data_samples)
        for result in results:
            result.set_data(
                dict(pred_cam=PixelData(data=result.seg_logits.data[1:])))
        return results

    def _kept_classes(self, inputs: Tensor,
                      data_samples: OptSampleList) -> Tensor:
        """Classes whose CAMs are kept, B x K multi-hot."""
        samples = data_samples or [None] * inputs.shape[0]
        labelled = [s is not None and 'gt_img_labels' in s for s in samples]
        use_labels = self.test_cfg.get('use_img_labels', True)
        if use_labels and all(labelled):
            return stack_img_labels(samples).to(inputs.device)
        if use_labels and not self.test_cfg.get('predict_missing_labels',
                                                False):
            index = labelled.index(False)
            sample = samples[index]
            where = (sample.metainfo.get('img_path') if sample is not None
                     else None) or f'image {index} of the batch'
            raise ValueError(
                'test_cfg.use_img_labels=True needs image labels; '
                f'{where} has none: set model.test_cfg.use_img_labels='
                'False to keep the predicted classes, or model.test_cfg.'
                'predict_missing_labels=True to do so for images without '
                'labels only')
        kept = (self.decode_head(self.extract_feat(inputs)) > 0).float()
        if use_labels:
            for i, sample in enumerate(samples):
                if labelled[i]:
                    kept[i] = sample.gt_img_labels.to(kept)
        return kept
