"""Test-time options shared by the segmentors: multi-scale, flip, CRF."""
import inspect
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from ...utils.crf import dense_crf
from ...utils.io import read_image
from ..utils.multiscale import multiscale_flip, sum_views

#: How :func:`multiview_logits` merges views: the mean of the softmax
#: probabilities, or the mean of the logits (CIAN, cian.md 7).
MERGES = ('prob', 'logit')
#: The keys a ``test_cfg.crf`` dict may set (``dense_crf``'s options).
CRF_ARGS = tuple(inspect.signature(dense_crf).parameters)[2:]


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
            command line, which mmengine splits at the commas), or a dict
            with keys that are not ``dense_crf`` arguments.
    """
    if crf is None or crf is False:
        return None
    if crf is True:
        return dict(defaults)
    if isinstance(crf, dict):
        unknown = sorted(set(crf) - set(CRF_ARGS))
        if unknown:
            raise TypeError(f'test_cfg.crf: unknown dense_crf arguments '
                            f'{unknown}; known: {list(CRF_ARGS)}')
        return {**defaults, **crf}
    raise TypeError(
        f'test_cfg.crf must be None, True or a dict of dense_crf arguments, '
        f'got {crf!r}; on the command line use model.test_cfg.crf=True '
        "(the segmentor's defaults), other arguments in a config file")


def check_merge(merge: str) -> None:
    """Raise a ValueError unless ``merge`` is one of :data:`MERGES`."""
    if merge not in MERGES:
        raise ValueError(f'merge must be one of {MERGES}, got {merge!r}')


def multiview_logits(model: EncoderDecoder,
                     inputs: Tensor,
                     batch_img_metas: List[dict],
                     scales: Sequence[float] = (1.0, ),
                     flip: bool = False,
                     merge: str = 'prob',
                     add_max: bool = False) -> Tensor:
    """Merge the segmentation of scaled and flipped views of a batch.

    One ``model.inference`` per scale (the flipped copies in the same
    batch), by :func:`~mmseg_wsss.models.utils.multiscale.multiscale_flip`;
    each view's output, flipped back, is resized to the input size and put
    in the ``merge`` space: softmax probabilities (``'prob'``) or the
    logits themselves (``'logit'``). With ``add_max``, each flip direction
    adds one more map, the element-wise maximum of its scales' maps
    (cian.md 7). The result is the mean of all maps: ``S * F`` views plus,
    with ``add_max``, ``F`` maximum maps (``S`` scales, ``F`` = 2 with
    ``flip``, else 1); as both flip directions have ``S + 1`` maps, this is
    CIAN's mean of the two directions' means.

    CIAN takes the maximum over the logits resized to the scale-1 logits'
    size (1/8 of the image); here the head's output is already at the
    image size, so the maximum is taken there.

    Works for any ``EncoderDecoder`` (its ``test_cfg.mode``, whole or
    slide, runs each view); its other ``test_cfg`` keys are not read.

    Args:
        model (EncoderDecoder): The segmentor, in eval mode.
        inputs (Tensor): Normalised images, B x 3 x H x W.
        batch_img_metas (list[dict]): Their metas.
        scales (Sequence[float]): Input scales.
        flip (bool): Add horizontally flipped views.
        merge (str): ``'prob'`` or ``'logit'`` (:data:`MERGES`).
        add_max (bool): Add the per-direction maximum over the scales.

    Returns:
        Tensor: B x C x H x W: the log of the mean probabilities
        (``'prob'``) or the mean logits (``'logit'``).

    Raises:
        ValueError: An unknown ``merge`` or empty ``scales``.
    """
    check_merge(merge)

    def logits_fn(images: Tensor) -> Tensor:
        # a torch.Size img_shape sets the size of the decode head's
        # output (BaseDecodeHead.predict_by_feat)
        metas = [
            dict(meta, img_shape=images.shape[2:]) for meta in batch_img_metas
        ] * (images.shape[0] // len(batch_img_metas))
        return model.inference(images, metas)

    def fold(acc: Optional[Tuple[Tensor, Optional[Tensor]]],
             views: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        total, peak = acc or (None, None)
        if merge == 'prob':
            views = views.softmax(dim=2)
        if add_max:
            peak = views if peak is None else torch.maximum(peak, views)
        return sum_views(total, views), peak

    total, peak = multiscale_flip(logits_fn, inputs, fold, scales, flip)
    num_maps = len(scales) * (2 if flip else 1)
    if add_max:
        total = sum_views(total, peak)
        num_maps += peak.shape[0]
    mean = total / num_maps
    return mean if merge == 'logit' else mean.clamp_min(1e-8).log()


def logits_crf(image: np.ndarray, logits: Tensor, crf: dict) -> Tensor:
    """Dense CRF posterior of one image's logits.

    The unary is ``-log softmax(logits)`` (:func:`dense_crf`), which is
    ``-logits`` up to a per-pixel constant, CIAN's unary (cian.md 7), except
    where a probability is below ``dense_crf``'s clip of 1e-5.

    Args:
        image (np.ndarray): H x W x 3 uint8 RGB.
        logits (Tensor): C x H x W logits (or log-probabilities).
        crf (dict): :func:`~mmseg_wsss.utils.crf.dense_crf` arguments.

    Returns:
        Tensor: C x H x W posterior on the device of ``logits``.
    """
    probs = logits.detach().softmax(dim=0)
    posterior = dense_crf(image, probs.cpu().numpy(), **crf)
    return torch.from_numpy(posterior).to(logits.device)


def result_image(result) -> np.ndarray:
    """The image file of a prediction (for a CRF), H x W x 3 RGB uint8.

    Raises:
        KeyError: The sample has no ``img_path`` (an array input).
    """
    img_path: Optional[str] = result.metainfo.get('img_path')
    if img_path is None:
        raise KeyError(
            'test_cfg.crf refines on the image file (img_path), and this '
            'input has none (an array?): pass the image path, or set '
            'model.test_cfg.crf=None')
    return read_image(img_path)


class TestTimeAugMixin:
    """``predict`` with ``test_cfg`` keys for an :class:`EncoderDecoder`.

    ``test_cfg`` keys:
        scales (Sequence[float]): Input scales. Default ``(1.0,)``.
        flip (bool): Add horizontally flipped views. Default False.
        merge (str): How the views are merged (:func:`multiview_logits`):
            ``'prob'``, the mean softmax probabilities (``seg_logits`` is
            their log), or ``'logit'``, the mean logits (CIAN). Default
            ``'prob'``.
        add_max (bool): Add each flip direction's element-wise maximum over
            the scales as one more map to the mean (CIAN). Default False.
        crf (bool | dict, optional): Dense CRF on the softmax of the merged
            ``seg_logits`` and the original image (read from
            ``img_path``): True for the segmentor's :attr:`default_crf`, or
            a dict of :func:`mmseg_wsss.utils.crf.dense_crf` arguments over
            it (:func:`resolve_crf`). Default None.

    With the defaults this is the stock ``EncoderDecoder.predict``; with one
    scale of 1 and no flip, ``merge`` and ``add_max`` change nothing. These
    keys are the test-time augmentation of this repository (there is no
    ``SegTTAModel``): ``tools/test.py --cfg-options
    model.test_cfg.scales="(0.5,1.0,1.5)" model.test_cfg.flip=True``.
    CIAN's inference (cian.md 7) is ``scales=(0.75, 1.0, 1.25), flip=True,
    merge='logit', add_max=True, crf=dict(num_iters=5)``.
    """

    #: ``dense_crf`` arguments of ``test_cfg.crf=True`` (its own defaults).
    default_crf: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # refuse a bad merge or crf when the model is built, not at the
        # first prediction
        check_merge((self.test_cfg or {}).get('merge', 'prob'))
        resolve_crf((self.test_cfg or {}).get('crf'), self.default_crf)

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Predict with the configured test-time options.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            data_samples (list[SegDataSample], optional): Their samples.

        Returns:
            list[SegDataSample]: With ``seg_logits`` and ``pred_sem_seg``.

        Raises:
            ValueError: An unknown ``test_cfg.merge``.
        """
        batch_img_metas = self._img_metas(inputs, data_samples)
        scales = tuple(self.test_cfg.get('scales', (1.0, )))
        flip = self.test_cfg.get('flip', False)
        merge = self.test_cfg.get('merge', 'prob')
        check_merge(merge)
        if scales == (1.0, ) and not flip:
            seg_logits = self.inference(inputs, batch_img_metas)
        else:
            seg_logits = self.tta_logits(inputs, batch_img_metas, scales,
                                         flip, merge,
                                         self.test_cfg.get('add_max', False))
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

    def tta_logits(self,
                   inputs: Tensor,
                   batch_img_metas: List[dict],
                   scales: Sequence[float],
                   flip: bool,
                   merge: str = 'prob',
                   add_max: bool = False) -> Tensor:
        """Merged logits of scaled and flipped views
        (:func:`multiview_logits` of this segmentor).

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            batch_img_metas (list[dict]): Their metas.
            scales (Sequence[float]): Input scales.
            flip (bool): Add horizontally flipped views.
            merge (str): ``'prob'`` or ``'logit'``.
            add_max (bool): Add the per-direction maximum over the scales.

        Returns:
            Tensor: B x C x H x W at the input size.
        """
        return multiview_logits(self, inputs, batch_img_metas, scales, flip,
                                merge, add_max)

    def _apply_crf(self, result, crf: dict) -> None:
        """Refine one result's logits with a dense CRF on its image."""
        posterior = logits_crf(result_image(result), result.seg_logits.data,
                               crf)
        result.set_data(
            dict(
                seg_logits=PixelData(data=posterior.clamp_min(1e-8).log()),
                pred_sem_seg=PixelData(
                    data=posterior.argmax(dim=0, keepdim=True))))


@MODELS.register_module()
class TTAEncoderDecoder(TestTimeAugMixin, EncoderDecoder):
    """mmseg's ``EncoderDecoder`` with the ``test_cfg`` keys ``scales``,
    ``flip``, ``merge``, ``add_max`` and ``crf`` of :class:`TestTimeAugMixin`
    (the CAM-baseline, fully supervised and CIAN segmenters; identical to
    ``EncoderDecoder`` with the defaults)."""
