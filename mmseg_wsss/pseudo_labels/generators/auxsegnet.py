"""Segmentation and saliency pseudo labels of AuxSegNet(+)."""
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmseg.registry import TASK_UTILS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ...models.utils.affinity import propagate
from ...models.utils.cam import (mask_absent_classes, max_normalize,
                                 minmax_normalize, multiscale_cam)
from ...structures import stack_img_labels
from ...utils.crf import saliency_crf
from ...utils.io import read_image
from ..rules import fuse_cam_saliency
from .base import BaseLabelGenerator, image_saliency

SAL_UPDATE_REFS = ('initial', 'previous')


@TASK_UTILS.register_module()
class AuxSegNetLabelGenerator(BaseLabelGenerator):
    """Segmentation and saliency pseudo labels of AuxSegNet(+)
    (auxsegnet_plus.md 3.1-3.4).

    CAMs: per scale, max-normalised raw CAMs, refined once by the model's
    cross-task affinity (``refine``), upsampled and summed; several scales
    are min-max normalised. Saliency (``update_saliency``): the saliency CRF
    of the mean of the refined saliency prediction (scale 1) and the
    reference map. Labels: :func:`fuse_cam_saliency` of the CAMs and the
    (updated) saliency.

    Reads the model through ``label_outputs`` (:class:`BaseLabelGenerator`;
    an :class:`AuxSegNet`).

    Args:
        scales (Sequence[float]): CAM scales; AuxSegNet+ ``(1.0, 0.5,
            1.5)``, AuxSegNet ``(1.0,)``.
        cam_thr (float): CAM foreground threshold (strict).
        sal_thr (float): Saliency foreground threshold (strict).
        refine (bool): Refine the CAMs with the learned affinity (False for
            labels(0) of the classification-only model).
        update_saliency (bool): Produce an updated saliency label (eq. 1);
            otherwise fuse with the off-the-shelf map.
        sal_update_ref (str): Reference map of eq. 1: ``'initial'`` (the
            off-the-shelf map, official code) or ``'previous'`` (the current
            saliency label, ``sal_label_path``, which
            ``PseudoLabelUpdateHook`` sets on its labelling dataset).
        sal_crf (dict, optional): :func:`saliency_crf` arguments.
    """

    def __init__(self,
                 scales: Sequence[float] = (1.0, 0.5, 1.5),
                 cam_thr: float = 0.2,
                 sal_thr: float = 0.06,
                 refine: bool = True,
                 update_saliency: bool = True,
                 sal_update_ref: str = 'initial',
                 sal_crf: Optional[dict] = None):
        if sal_update_ref not in SAL_UPDATE_REFS:
            raise ValueError(f'sal_update_ref must be one of '
                             f'{SAL_UPDATE_REFS}, got {sal_update_ref!r}')
        if not scales:
            raise ValueError('scales must not be empty')
        self.scales = tuple(scales)
        self.cam_thr = cam_thr
        self.sal_thr = sal_thr
        self.refine = refine
        self.update_saliency = update_saliency
        self.sal_update_ref = sal_update_ref
        self.sal_crf = sal_crf or {}

    @property
    def updates_saliency(self) -> bool:
        """Whether the result has an updated saliency label."""
        return self.update_saliency

    @torch.no_grad()
    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_sample: SegDataSample, data_info: dict) -> dict:
        """See :meth:`BaseLabelGenerator.__call__`."""
        with_decode = self.refine or self.update_saliency
        full_scale = {}

        def cam_fn(img: Tensor) -> Tensor:
            out = model.label_outputs(img, with_decode=with_decode)
            if img.shape[2:] == inputs.shape[2:]:
                full_scale.update(out)
            cam = max_normalize(out['cam'])
            if self.refine:
                if 'affinity' not in out:
                    raise ValueError('refine=True needs a decode head with '
                                     'an affinity module')
                cam = propagate(out['affinity'], cam)
            return cam

        cam = multiscale_cam(cam_fn, inputs, self.scales)
        if len(self.scales) > 1:
            cam = minmax_normalize(cam)
        img_labels = stack_img_labels([data_sample]).to(inputs.device)
        cam = mask_absent_classes(cam, img_labels)[0].cpu().numpy()
        result = dict(cam=cam.astype(np.float32))
        if self.update_saliency:
            if 'sal' not in full_scale:
                full_scale = model.label_outputs(inputs)
            sal = self._updated_saliency(full_scale['sal'], data_info)
            result['sal'] = np.round(sal * 255).astype(np.uint8)
        else:
            sal = image_saliency(data_info, cam.shape[1:])
        result['label'] = fuse_cam_saliency(cam, sal, self.cam_thr,
                                            self.sal_thr)
        return result

    def _updated_saliency(self, sal_logit: Tensor,
                          data_info: dict) -> np.ndarray:
        """Eq. 1: CRF of the mean of the predicted and reference saliency.

        Args:
            sal_logit (Tensor): Refined saliency logit, 1 x 1 x h x w.
            data_info (dict): With ``img_path`` and ``sal_path``.

        Returns:
            np.ndarray: H x W float saliency in [0, 1].
        """
        img = read_image(data_info['img_path'])
        ref = image_saliency(data_info, img.shape[:2],
                             updated=self.sal_update_ref == 'previous')
        pred = F.interpolate(
            sal_logit, size=img.shape[:2], mode='bilinear',
            align_corners=False).sigmoid()[0, 0].cpu().numpy()
        return saliency_crf(img, (pred + ref) / 2, **self.sal_crf)
