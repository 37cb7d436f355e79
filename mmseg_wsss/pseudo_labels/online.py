"""Rules that make pseudo labels online, inside a training step.

The rules in :mod:`.rules` are per-image numpy functions that an offline
generator picks by name from ``LABEL_RULES`` and whose labels the writer
stores as PNG files. An online rule instead runs on the training batch in
a head's or segmentor's loss: batched tensors on the model's device, the
result used at once as a detached target and never written. Its inputs
differ too (here C-channel masks with their own background channel, and
the image labels), so no generator could call it through ``LABEL_RULES``;
online rules are therefore plain functions in this module.

Labels: 0 background, ``c`` for class ``c`` (channel ``c`` of the masks),
:data:`~mmseg_wsss.structures.IGNORE_INDEX` for ignored pixels.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.utils.cam import mask_absent_classes
from ..structures import IGNORE_INDEX


@torch.no_grad()
def pseudo_gt_from_masks(masks: Tensor,
                         img_labels: Tensor,
                         size: Optional[Tuple[int, int]] = None,
                         fg_ratio: float = 0.6,
                         bg_ratio: float = 0.7,
                         floor: float = 0.2) -> Tensor:
    """SSSS / WS-FCN pseudo ground truth from (PAMR-refined) masks.

    wsfcn.md 2.10: masks are resized to ``size`` (bilinear,
    ``align_corners=True``) and classes absent from the image labels
    zeroed. With ``mu_c`` the maximum of channel ``c`` over the image,
    channel ``c`` claims the pixels above ``max(r_c mu_c, floor)``
    (strictly), ``r_0 = bg_ratio`` for the background and ``fg_ratio`` for
    the classes. A pixel claimed by exactly one channel takes its label;
    one claimed by none or by several is ignored. So an absent class never
    appears and every pixel has at most one label.

    Args:
        masks (Tensor): Masks, B x C x h x w, background at channel 0
            (e.g. PAMR-refined softmax masks). Not differentiated.
        img_labels (Tensor): Multi-hot image labels, B x (C - 1).
        size (tuple[int, int], optional): Label size (H, W); the masks'
            own size by default.
        fg_ratio (float): Class threshold relative to its maximum.
        bg_ratio (float): Background threshold relative to its maximum
            (COCO: 0.8).
        floor (float): Lowest threshold (COCO: 0.1).

    Returns:
        Tensor: Long labels, B x H x W, in {0, ..., C - 1, 255}.

    Raises:
        ValueError: ``img_labels`` is not B x (C - 1).
    """
    batch, num_classes = masks.shape[:2]
    if img_labels.shape != (batch, num_classes - 1):
        raise ValueError(
            f'img_labels must be {batch} x {num_classes - 1} for masks of '
            f'shape {tuple(masks.shape)}, got {tuple(img_labels.shape)}')
    if size is not None and tuple(size) != tuple(masks.shape[-2:]):
        masks = F.interpolate(
            masks, size=size, mode='bilinear', align_corners=True)
    masks = torch.cat(
        [masks[:, :1], mask_absent_classes(masks[:, 1:], img_labels)], dim=1)
    ratios = masks.new_full((num_classes, ), fg_ratio)
    ratios[0] = bg_ratio
    peaks = masks.flatten(2).amax(dim=2)
    thresholds = (ratios * peaks).clamp(min=floor)[..., None, None]
    claimed = masks > thresholds
    labels = claimed.to(torch.uint8).argmax(dim=1)
    labels[claimed.sum(dim=1) != 1] = IGNORE_INDEX
    return labels
