"""Pseudo labels from the CAMs of a classifier (the CAM baseline)."""
import inspect
from typing import Optional, Sequence

import numpy as np
import torch
from mmseg.registry import MODELS, TASK_UTILS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ...models.utils.cam import (cam_to_seg_logits, mask_absent_classes,
                                 max_normalize, multiscale_cam)
from ...structures import stack_img_labels
from ...utils.crf import dense_crf
from ...utils.io import read_image
from ..rules import LABEL_RULES
from .base import BaseLabelGenerator, image_saliency


@TASK_UTILS.register_module()
class CAMLabelGenerator(BaseLabelGenerator):
    """CAMs of the labelled classes, turned into labels by a rule.

    CAMs: raw CAMs over ``scales`` (and flips) summed, max-normalised and
    zeroed for absent classes (:func:`multiscale_cam`). Labels: the
    registered ``rule`` (:data:`~mmseg_wsss.pseudo_labels.rules.LABEL_RULES`;
    a rule taking ``saliency`` gets the image's saliency map), or, with
    ``crf``, a dense CRF over the background score ``rule.bg_thr`` and the
    labelled classes' CAMs.

    With ``pamr``, the CAMs are first refined on the image by
    :class:`~mmseg_wsss.models.utils.PAMR` (wsfcn.md 2.9; see
    :meth:`_refine`): the background score ``rule.bg_thr`` and the
    labelled classes' CAMs, divided by their sum at each pixel, are
    refined as per-pixel probabilities, and the result is put back on the
    CAM scale with the background at ``bg_thr`` again. Thresholding the
    refined CAMs at ``bg_thr`` is then the argmax of the refined
    probabilities, and the CRF (if any) starts from them.

    Args:
        scales (Sequence[float]): CAM scales.
        flip (bool): Add horizontally flipped CAMs.
        rule (dict): A rule config, e.g. ``dict(type='threshold',
            bg_thr=0.2)``, ``dict(type='auxsegnet', cam_thr=0.2,
            sal_thr=0.06)`` or ``dict(type='cian', cam_thr=0.3)``.
        crf (dict, optional): :func:`~mmseg_wsss.utils.crf.dense_crf`
            arguments; only with the ``threshold`` rule.
        pamr (dict, optional): A PAMR config, e.g. ``dict(type='PAMR',
            num_iter=10, dilations=(1, 2, 4, 8, 12, 24))``; dilations are
            in pixels of the image (WS-FCN's, of its 1/4-resolution
            masks). Only with the ``threshold`` rule and ``bg_thr > 0``.

    Raises:
        KeyError: ``rule`` names no registered rule.
        ValueError: ``crf`` or ``pamr`` with another rule, or ``pamr``
            without a positive ``bg_thr``.
    """

    def __init__(self,
                 scales: Sequence[float] = (1.0, ),
                 flip: bool = False,
                 rule: dict = dict(type='threshold', bg_thr=0.2),
                 crf: Optional[dict] = None,
                 pamr: Optional[dict] = None):
        rule = dict(rule)
        name = rule.pop('type')
        if name not in LABEL_RULES:
            raise KeyError(f'rule {name!r} is not registered; known rules: '
                           f'{sorted(LABEL_RULES.module_dict)}')
        if crf is not None and name != 'threshold':
            raise ValueError("a dense CRF refines thresholded CAMs: use "
                             f"rule=dict(type='threshold'), not {name!r}")
        if pamr is not None and (name != 'threshold'
                                 or rule.get('bg_thr', 0) <= 0):
            raise ValueError(
                'PAMR refines the probabilities of the background score '
                "bg_thr > 0 and the CAMs: use rule=dict(type='threshold', "
                f'bg_thr=...), not {dict(rule, type=name)}')
        self.scales = tuple(scales)
        self.flip = flip
        self.rule = LABEL_RULES.get(name)
        self.rule_kwargs = rule
        self.with_saliency = 'saliency' in inspect.signature(
            self.rule).parameters
        self.crf = crf
        self.pamr = None if pamr is None else MODELS.build(pamr)

    @torch.no_grad()
    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_sample: SegDataSample, data_info: dict) -> dict:
        """See :meth:`BaseLabelGenerator.__call__`.

        With ``pamr``, ``cam`` holds the refined CAMs, on the scale where
        the background score is ``bg_thr`` (they may exceed 1).
        """
        img_labels = stack_img_labels([data_sample]).to(inputs.device)
        cam = multiscale_cam(
            lambda img: model.label_outputs(img, with_decode=False)['cam'],
            inputs, self.scales, self.flip)
        cam = mask_absent_classes(max_normalize(cam), img_labels)
        image = None
        if self.pamr is not None or self.crf is not None:
            image = read_image(data_info['img_path'])
        if self.pamr is not None:
            cam = self._refine(cam, img_labels[0], image)
        cam = cam[0].cpu().numpy()
        if self.crf is not None:
            label = self._crf_label(cam, img_labels[0].cpu().numpy(), image)
        elif self.with_saliency:
            sal = image_saliency(data_info, cam.shape[1:])
            label = self.rule(cam, saliency=sal, **self.rule_kwargs)
        else:
            label = self.rule(cam, **self.rule_kwargs)
        return dict(label=label, cam=cam.astype(np.float32))

    def _refine(self, cam: Tensor, img_labels: Tensor,
                image: np.ndarray) -> Tensor:
        """PAMR over the background and the labelled classes.

        The threshold rule labels a pixel by the largest of ``bg_thr`` and
        the CAMs, so these scores divided by their sum (as for the CRF) are
        the per-pixel probabilities whose argmax is the rule's label. After
        PAMR, each pixel's class probabilities are scaled so that the
        background's is ``bg_thr``: ``cam_c = bg_thr p_c / p_bg``. Then
        ``cam_c >= bg_thr`` exactly when ``p_c >= p_bg``, and the CRF's
        normalised scores are the refined probabilities. ``p_bg`` stays
        positive (PAMR averages positive values). Computed in float64, so
        that ``num_iter=0`` returns the CAMs exactly.

        Args:
            cam (Tensor): Normalised CAMs, 1 x K x H x W, zero for absent
                classes.
            img_labels (Tensor): Multi-hot image labels, K.
            image (np.ndarray): The image, H x W x 3 uint8 RGB.

        Returns:
            Tensor: Refined CAMs, 1 x K x H x W, zero for absent classes.
        """
        bg_thr = self.rule_kwargs['bg_thr']
        keys = torch.nonzero(img_labels > 0)[:, 0]
        scores = cam_to_seg_logits(cam[:, keys].double(), bg_thr)
        probs = scores / scores.sum(dim=1, keepdim=True)
        rgb = torch.from_numpy(image).to(cam.device).permute(2, 0, 1)
        probs = self.pamr(rgb[None].float() / 255, probs)
        refined = torch.zeros_like(cam)
        refined[:, keys] = (probs[:, 1:] * (bg_thr / probs[:, :1])).to(cam)
        return refined

    def _crf_label(self, cam: np.ndarray, img_labels: np.ndarray,
                   image: np.ndarray) -> np.ndarray:
        """Dense CRF over background and the labelled classes."""
        keys = np.concatenate([[0], np.flatnonzero(img_labels) + 1])
        bg = np.full_like(cam[:1], self.rule_kwargs.get('bg_thr', 0.2))
        scores = np.concatenate([bg, cam[keys[1:] - 1]])
        probs = scores / np.maximum(scores.sum(axis=0, keepdims=True), 1e-5)
        posterior = dense_crf(image, probs, **self.crf)
        return keys[posterior.argmax(axis=0)].astype(np.uint8)
