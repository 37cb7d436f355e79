"""Pseudo labels from the CAMs of a classifier (the CAM baseline)."""
import inspect
from typing import Optional, Sequence

import numpy as np
import torch
from mmseg.registry import TASK_UTILS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ...models.utils.cam import (mask_absent_classes, max_normalize,
                                 multiscale_cam)
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

    Args:
        scales (Sequence[float]): CAM scales.
        flip (bool): Add horizontally flipped CAMs.
        rule (dict): A rule config, e.g. ``dict(type='threshold',
            bg_thr=0.2)``, ``dict(type='auxsegnet', cam_thr=0.2,
            sal_thr=0.06)`` or ``dict(type='cian', cam_thr=0.3)``.
        crf (dict, optional): :func:`~mmseg_wsss.utils.crf.dense_crf`
            arguments; only with the ``threshold`` rule.
    """

    def __init__(self,
                 scales: Sequence[float] = (1.0, ),
                 flip: bool = False,
                 rule: dict = dict(type='threshold', bg_thr=0.2),
                 crf: Optional[dict] = None):
        rule = dict(rule)
        name = rule.pop('type')
        if name not in LABEL_RULES:
            raise KeyError(f'rule {name!r} is not registered; known rules: '
                           f'{sorted(LABEL_RULES.module_dict)}')
        if crf is not None and name != 'threshold':
            raise ValueError("a dense CRF refines thresholded CAMs: use "
                             f"rule=dict(type='threshold'), not {name!r}")
        self.scales = tuple(scales)
        self.flip = flip
        self.rule = LABEL_RULES.get(name)
        self.rule_kwargs = rule
        self.with_saliency = 'saliency' in inspect.signature(
            self.rule).parameters
        self.crf = crf

    @torch.no_grad()
    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_sample: SegDataSample, data_info: dict) -> dict:
        """See :meth:`BaseLabelGenerator.__call__`."""
        img_labels = stack_img_labels([data_sample]).to(inputs.device)
        cam = multiscale_cam(
            lambda img: model.label_outputs(img, with_decode=False)['cam'],
            inputs, self.scales, self.flip)
        cam = mask_absent_classes(max_normalize(cam), img_labels)
        cam = cam[0].cpu().numpy()
        if self.crf is not None:
            label = self._crf_label(cam, img_labels[0].cpu().numpy(),
                                    data_info['img_path'])
        elif self.with_saliency:
            sal = image_saliency(data_info, cam.shape[1:])
            label = self.rule(cam, saliency=sal, **self.rule_kwargs)
        else:
            label = self.rule(cam, **self.rule_kwargs)
        return dict(label=label, cam=cam.astype(np.float32))

    def _crf_label(self, cam: np.ndarray, img_labels: np.ndarray,
                   img_path: str) -> np.ndarray:
        """Dense CRF over background and the labelled classes."""
        keys = np.concatenate([[0], np.flatnonzero(img_labels) + 1])
        bg = np.full_like(cam[:1], self.rule_kwargs.get('bg_thr', 0.2))
        scores = np.concatenate([bg, cam[keys[1:] - 1]])
        probs = scores / np.maximum(scores.sum(axis=0, keepdims=True), 1e-5)
        posterior = dense_crf(read_image(img_path), probs, **self.crf)
        return keys[posterior.argmax(axis=0)].astype(np.uint8)
