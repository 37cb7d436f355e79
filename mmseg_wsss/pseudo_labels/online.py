"""Rules that make pseudo labels online, inside a training step.

The rules in :mod:`.rules` are per-image numpy functions that an offline
generator picks by name from ``LABEL_RULES`` and whose labels the writer
stores as PNG files. An online rule instead runs on the training batch in
a head's or segmentor's loss: batched tensors on the model's device, the
result used at once as a detached target and never written. Its inputs
differ too (C-channel masks or logits with their own background channel,
C_f-channel CAMs, the image labels), so no generator could call it through
``LABEL_RULES``; online rules are therefore plain functions in this module.

Labels: 0 background, ``c`` for class ``c`` (channel ``c`` of the masks,
channel ``c - 1`` of C_f-channel CAMs),
:data:`~mmseg_wsss.structures.IGNORE_INDEX` for ignored pixels.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.utils.cam import mask_absent_classes
from ..structures import IGNORE_INDEX

#: A single threshold ``xi`` or a dual threshold ``(lo, hi)`` (cosa.md 2.7).
Threshold = Union[float, Tuple[float, float]]


def valid_tokens(valid: Tensor, size: Tuple[int, int]) -> Tensor:
    """Positions of a coarser grid that are at least half valid.

    cosa.md 2.10 / 2.11: a token (a patch of the image) counts when at
    least 50 % of its pixels are inside the valid box.

    Args:
        valid (Tensor): Bool (or 0/1) B x H x W.
        size (tuple[int, int]): The grid (h, w).

    Returns:
        Tensor: Bool B x h x w.
    """
    pooled = F.adaptive_avg_pool2d(valid[:, None].float(), tuple(size))
    return pooled[:, 0] >= 0.5


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


def _threshold_pair(threshold: Threshold) -> Tuple[float, float]:
    """(lo, hi) of a single (lo = hi) or dual threshold, checked."""
    if isinstance(threshold, (tuple, list)):
        if len(threshold) != 2:
            raise ValueError('a dual threshold must be (lo, hi), got '
                             f'{threshold!r}')
        lo, hi = float(threshold[0]), float(threshold[1])
    else:
        lo = hi = float(threshold)
    if not 0 < lo <= hi < 1:
        raise ValueError('thresholds must satisfy 0 < lo <= hi < 1 (single: '
                         f'0 < xi < 1), got {threshold!r}')
    return lo, hi


@torch.no_grad()
def cam_pseudo_labels(cam: Tensor,
                      threshold: Threshold,
                      valid: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """CoSA's CAM pseudo labels (CPL).

    cosa.md 2.7 (paper eq. 3): with the confidence ``nu = max_c cam_c``, a
    pixel takes ``argmax_c cam_c + 1`` if ``nu >= xi`` and 0 (background)
    otherwise. A dual threshold ``(lo, hi)`` (released code) gives
    ``argmax + 1`` for ``nu >= hi``, 0 for ``nu < lo`` and ignores the band
    ``lo <= nu < hi``; ``lo == hi`` is the single threshold. Pixels outside
    ``valid`` are ignored. Absent classes (maps of 0) never win, since
    ``nu = 0 < xi`` labels background.

    Args:
        cam (Tensor): Normalised, label-masked CAMs in [0, 1],
            B x C_f x H x W (no background channel).
        threshold (float | tuple[float, float]): ``xi`` with
            ``0 < xi < 1``, or ``(lo, hi)`` with ``0 < lo <= hi < 1``.
        valid (Tensor, optional): Bool mask of real image pixels, B x H x W;
            all pixels by default.

    Returns:
        tuple[Tensor, Tensor]: Long labels B x H x W in {0, ..., C_f, 255}
        and the confidence ``nu``, B x H x W.

    Raises:
        ValueError: ``cam`` is not 4-D, ``valid`` is not B x H x W, or the
            threshold is out of range.
    """
    lo, hi = _threshold_pair(threshold)
    if cam.dim() != 4:
        raise ValueError(
            f'cam must be B x C_f x H x W, got {tuple(cam.shape)}')
    confidence, index = cam.max(dim=1)
    labels = index + 1
    labels[confidence < hi] = IGNORE_INDEX
    labels[confidence < lo] = 0
    if valid is not None:
        if valid.shape != confidence.shape:
            raise ValueError(
                f'valid must be {tuple(confidence.shape)} for cam of shape '
                f'{tuple(cam.shape)}, got {tuple(valid.shape)}')
        labels[~valid.bool()] = IGNORE_INDEX
    return labels, confidence


def perplexity(confidence: Tensor,
               threshold: Threshold,
               lambda_alpha: float = 0.8,
               lambda_beta: float = 1.0) -> Tensor:
    """CoSA's perplexity of a CAM pseudo label.

    cosa.md 2.8 (paper eq. 4): ``P = (-log(lambda_alpha d)) ** lambda_beta``
    with the normalised distance of ``nu`` to the threshold
    ``d = (nu - xi) / (1 - xi)`` for ``nu >= xi`` and ``(xi - nu) / xi``
    below, clamped to [1e-4, 1]; so ``P >= -log lambda_alpha`` (0.2231 at
    ``d = 1``, i.e. ``nu`` in {0, 1}) and ``P`` grows as ``nu`` nears the
    threshold (at most 9.43 for the defaults). Dual threshold ``(lo, hi)``:
    ``d = (nu - hi) / (1 - hi)`` for ``nu >= hi``, ``(lo - nu) / lo`` for
    ``nu < lo``; band pixels (``lo <= nu < hi``, ignored by
    :func:`cam_pseudo_labels`) get ``d = 1e-4``, the largest perplexity,
    which keeps ``P`` finite and continuous at both ends of the band.

    Args:
        confidence (Tensor): ``nu`` in [0, 1], any shape.
        threshold (float | tuple[float, float]): As in
            :func:`cam_pseudo_labels`.
        lambda_alpha (float): In (0, 1), so that ``P > 0``.
        lambda_beta (float): Exponent, > 0.

    Returns:
        Tensor: Perplexity, the shape of ``confidence``.

    Raises:
        ValueError: A threshold or lambda out of range.
    """
    lo, hi = _threshold_pair(threshold)
    if not 0 < lambda_alpha < 1:
        raise ValueError(f'lambda_alpha must be in (0, 1), got {lambda_alpha}')
    if lambda_beta <= 0:
        raise ValueError(f'lambda_beta must be > 0, got {lambda_beta}')
    above = (confidence - hi) / (1 - hi)
    below = (lo - confidence) / lo
    band = torch.zeros_like(confidence)
    distance = torch.where(confidence >= hi, above,
                           torch.where(confidence < lo, below, band))
    distance = distance.clamp(min=1e-4, max=1.0)
    return (-torch.log(lambda_alpha * distance))**lambda_beta


@torch.no_grad()
def soft_segmentation_labels(seg_logits: Tensor,
                             img_labels: Tensor,
                             tau: float = 0.01) -> Tensor:
    """CoSA's soft segmentation pseudo labels (SPL).

    cosa.md 2.10 (paper eq. 7): the logits of foreground classes absent
    from the image labels are set to -1e5 (the background, channel 0, is
    never masked), then ``softmax(logits / tau)`` over the classes. Computed
    in float32.

    Args:
        seg_logits (Tensor): Segmentation logits, B x C x H x W, background
            at channel 0.
        img_labels (Tensor): Multi-hot image labels, B x (C - 1).
        tau (float): Temperature, > 0.

    Returns:
        Tensor: Float32 soft labels, B x C x H x W, summing to 1 over C.

    Raises:
        ValueError: ``seg_logits`` is not 4-D, ``img_labels`` is not
            B x (C - 1), or ``tau <= 0``.
    """
    if tau <= 0:
        raise ValueError(f'tau must be > 0, got {tau}')
    if seg_logits.dim() != 4:
        raise ValueError('seg_logits must be B x C x H x W, got '
                         f'{tuple(seg_logits.shape)}')
    batch, num_classes = seg_logits.shape[:2]
    if img_labels.shape != (batch, num_classes - 1):
        raise ValueError(
            f'img_labels must be {batch} x {num_classes - 1} for seg_logits '
            f'of shape {tuple(seg_logits.shape)}, got '
            f'{tuple(img_labels.shape)}')
    logits = seg_logits.float()
    absent = (img_labels <= 0)[..., None, None]
    foreground = logits[:, 1:].masked_fill(absent, -1e5)
    logits = torch.cat([logits[:, :1], foreground], dim=1)
    return (logits / tau).softmax(dim=1)
