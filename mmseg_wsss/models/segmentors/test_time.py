"""Test-time options shared by the segmentors: multi-scale, flip, CRF."""
from typing import List, Optional, Sequence, Union

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from ...utils.crf import dense_crf
from ...utils.io import read_image
from ..utils.multiscale import multiscale_flip, sum_views


def resolve_crf(crf: Union[None, bool, dict],
                defaults: dict) -> Optional[dict]:
    """The :func:`~mmseg_wsss.utils.crf.dense_crf` arguments of a
    ``test_cfg.crf`` value.

    ``None`` / ``False``: no CRF. ``True``: the segmentor's ``defaults``. A
    dict: ``defaults`` updated with it (so ``{}`` is the defaults too, and
    ``--cfg-options model.test_cfg.crf=True`` switches the CRF on from the
    command line).

    Raises:
        TypeError: Any other value (e.g. a list from a dict written on the
            command line, which mmengine splits at the commas).
    """
    if crf is None or crf is False:
        return None
    if crf is True:
        return dict(defaults)
    if isinstance(crf, dict):
        return {**defaults, **crf}
    raise TypeError(
        f'test_cfg.crf must be None, True or a dict of dense_crf arguments, '
        f'got {crf!r}; on the command line use model.test_cfg.crf=True '
        "(the segmentor's defaults), other arguments in a config file")


class TestTimeAugMixin:
    """``predict`` with ``test_cfg`` keys for an :class:`EncoderDecoder`.

    ``test_cfg`` keys:
        scales (Sequence[float]): Input scales; the softmax probabilities of
            all views are averaged. Default ``(1.0,)``.
        flip (bool): Add horizontally flipped views. Default False.
        crf (bool | dict, optional): Dense CRF on the averaged
            probabilities and the original image (read from ``img_path``):
            True for the segmentor's :attr:`default_crf`, or a dict of
            :func:`mmseg_wsss.utils.crf.dense_crf` arguments over it
            (:func:`resolve_crf`). Default None.

    With the defaults this is the stock ``EncoderDecoder.predict``. These
    keys are the test-time augmentation of this repository (there is no
    ``SegTTAModel``): ``tools/test.py --cfg-options
    model.test_cfg.scales="(0.5,1.0,1.5)" model.test_cfg.flip=True``.
    """

    #: ``dense_crf`` arguments of ``test_cfg.crf=True`` (its own defaults).
    default_crf: dict = {}

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Predict with the configured test-time options.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            data_samples (list[SegDataSample], optional): Their samples.

        Returns:
            list[SegDataSample]: With ``seg_logits`` and ``pred_sem_seg``.
        """
        batch_img_metas = self._img_metas(inputs, data_samples)
        scales = tuple(self.test_cfg.get('scales', (1.0, )))
        flip = self.test_cfg.get('flip', False)
        if scales == (1.0, ) and not flip:
            seg_logits = self.inference(inputs, batch_img_metas)
        else:
            seg_logits = self.tta_logits(inputs, batch_img_metas, scales,
                                         flip)
        results = self.postprocess_result(seg_logits, data_samples)
        crf = resolve_crf(self.test_cfg.get('crf'), self.default_crf)
        if crf is not None:
            for result in results:
                self._apply_crf(result, crf)
        return results

    @staticmethod
    def _img_metas(inputs: Tensor, data_samples: OptSampleList) -> List[dict]:
        """Meta of each image (the stock defaults without samples)."""
        if data_samples is not None:
            return [sample.metainfo for sample in data_samples]
        shape = inputs.shape[2:]
        return [
            dict(
                ori_shape=shape,
                img_shape=shape,
                pad_shape=shape,
                padding_size=[0, 0, 0, 0])
        ] * inputs.shape[0]

    def tta_logits(self, inputs: Tensor, batch_img_metas: List[dict],
                   scales: Sequence[float], flip: bool) -> Tensor:
        """Log of the mean softmax over scaled and flipped views.

        One :meth:`inference` per scale (the flipped copies in the same
        batch), by :func:`~mmseg_wsss.models.utils.multiscale.multiscale_flip`.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            batch_img_metas (list[dict]): Their metas.
            scales (Sequence[float]): Input scales.
            flip (bool): Add horizontally flipped views.

        Returns:
            Tensor: B x C x H x W at the input size.
        """

        def logits_fn(images: Tensor) -> Tensor:
            # a torch.Size img_shape sets the size of the decode head's
            # output (BaseDecodeHead.predict_by_feat)
            metas = [
                dict(meta, img_shape=images.shape[2:])
                for meta in batch_img_metas
            ] * (images.shape[0] // len(batch_img_metas))
            return self.inference(images, metas)

        def add_probs(total: Optional[Tensor], views: Tensor) -> Tensor:
            return sum_views(total, views.softmax(dim=2))

        probs = multiscale_flip(logits_fn, inputs, add_probs, scales, flip)
        num_views = len(scales) * (2 if flip else 1)
        return (probs / num_views).clamp_min(1e-8).log()

    def _apply_crf(self, result, crf: dict) -> None:
        """Refine one result's logits with a dense CRF on its image."""
        img_path: Optional[str] = result.metainfo.get('img_path')
        if img_path is None:
            raise KeyError(
                'test_cfg.crf refines on the image file (img_path), and this '
                'input has none (an array?): pass the image path, or set '
                'model.test_cfg.crf=None')
        img = read_image(img_path)
        probs = result.seg_logits.data.detach().softmax(dim=0)
        posterior = dense_crf(img, probs.cpu().numpy(), **crf)
        posterior = torch.from_numpy(posterior).to(probs.device)
        result.set_data(
            dict(
                seg_logits=PixelData(data=posterior.clamp_min(1e-8).log()),
                pred_sem_seg=PixelData(
                    data=posterior.argmax(dim=0, keepdim=True))))


@MODELS.register_module()
class TTAEncoderDecoder(TestTimeAugMixin, EncoderDecoder):
    """mmseg's ``EncoderDecoder`` with the ``test_cfg`` keys ``scales``,
    ``flip`` and ``crf`` of :class:`TestTimeAugMixin` (the CAM-baseline and
    fully supervised LargeFOV segmenters; identical to ``EncoderDecoder``
    with the defaults)."""
