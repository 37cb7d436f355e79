"""Classification scores from segmentation masks (SSSS; wsfcn.md 2.8).

A single-stage model classifies the image through its own masks: normalised
Global Weighted Pooling (nGWP) of the logits, plus a focal penalty that
pushes present classes to claim area. Shapes: ``B`` images, ``C`` classes
including background (channel 0), masks ``m`` (softmax over ``C``) and
logits ``z`` on the same ``h x w`` grid.

The multi-label soft-margin loss on these scores needs no new class: mmseg's
``CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True,
loss_name='loss_cls')`` on ``B x (C - 1)`` scores and multi-hot labels is
the mean of the per-element binary cross-entropies over ``B (C - 1)``
elements, which is ``torch.nn.MultiLabelSoftMarginLoss`` (mean over classes,
then over the batch); ``avg_non_ignore=True`` only silences mmseg's warning,
as no 0/1 label is ignored. It refuses ``C - 1 = 1`` (it squeezes a single
score column).
"""
import torch
from torch import Tensor


def ngwp_scores(logits: Tensor, masks: Tensor, eps: float = 1.0) -> Tensor:
    """Normalised Global Weighted Pooling of logits by masks.

    ``s_c = sum_ij m_c z_c / (eps + sum_ij m_c)`` (wsfcn.md 2.8). For masks
    in [0, 1] and ``eps > 0`` it is a convex combination of the
    ``z_{c,ij}`` and 0, so ``min(0, min z_c) <= s_c <= max(0, max z_c)``.

    Args:
        logits (Tensor): Logits z, B x C x h x w.
        masks (Tensor): Masks m in [0, 1], B x C x h x w.
        eps (float): Added to the mask area (1 in SSSS).

    Returns:
        Tensor: Scores, B x C.
    """
    weighted = (masks * logits).flatten(2).sum(2)
    return weighted / (eps + masks.flatten(2).sum(2))


def focal_mask_penalty(masks: Tensor, p: float = 3.0,
                       lam: float = 0.01) -> Tensor:
    """Focal mask-size penalty ``(1 - mean m_c)^p log(lam + mean m_c)``.

    ``log(lam)`` for a class with no area (-4.6052 for ``lam = 0.01``),
    increasing to ``(1 - ...)^p log(lam + 1) ~ 0`` as the class covers the
    image; non-positive for mean areas up to ``1 - lam`` (wsfcn.md 2.8).

    Args:
        masks (Tensor): Masks m in [0, 1], B x C x h x w.
        p (float): Focal exponent.
        lam (float): Offset inside the log (COCO: 0.1).

    Returns:
        Tensor: Penalties, B x C.
    """
    area = masks.flatten(2).mean(2)
    return (1 - area).pow(p) * torch.log(lam + area)


def mask_class_scores(logits: Tensor,
                      masks: Tensor,
                      p: float = 3.0,
                      lam: float = 0.01) -> Tensor:
    """Foreground class scores: nGWP plus the focal penalty.

    ``s_c = ngwp_c + focal_c`` for the foreground classes; the background
    score (channel 0) is discarded (wsfcn.md 2.8).

    Args:
        logits (Tensor): Logits z, B x C x h x w (background at channel 0).
        masks (Tensor): Softmax masks m, B x C x h x w.
        p (float): Focal exponent.
        lam (float): Focal offset.

    Returns:
        Tensor: Scores, B x (C - 1), logits for a multi-label loss.
    """
    scores = ngwp_scores(logits, masks) + focal_mask_penalty(masks, p, lam)
    return scores[:, 1:]
