"""Reliability-adaptive weighted cross-entropy (CoSA RAW)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...pseudo_labels.online import Threshold, perplexity
from ...structures import IGNORE_INDEX


def check_logits_and_labels(seg_logits: Tensor, label: Tensor) -> None:
    """Raise a ValueError unless logits B x C x H x W and labels B x H x W
    share the batch and the size."""
    if (seg_logits.dim() != 4 or label.dim() != 3
            or seg_logits.shape[0] != label.shape[0]
            or seg_logits.shape[-2:] != label.shape[-2:]):
        raise ValueError(
            f'logits {tuple(seg_logits.shape)} and labels '
            f'{tuple(label.shape)} must be B x C x H x W and B x H x W; '
            'resize the logits to the labels first')


@MODELS.register_module()
class RAWCrossEntropyLoss(nn.Module):
    """Cross-entropy weighted per pixel by the reliability of its label.

    cosa.md 2.8 (paper eqs. 4-5): over the valid labelled pixels ``R`` of
    the whole batch (label not ``ignore_index``), a reliability ``r >= 0``
    becomes the weight ``w = r |R| / sum_R r`` (mean 1 over ``R``), so::

        L = loss_weight * (1 / |R|) sum_R w CE = sum_R r CE / sum_R r

    The reliability is, in this order: the ``weight`` passed to
    :meth:`forward` (e.g. a stored per-pixel reliability, or a pixel
    sampler's weight when the loss is a stock decode head's
    ``loss_decode``); ``1 / perplexity(confidence, threshold)`` when the CAM
    confidence and threshold are passed (CoSA's CPL); else 1 (plain mean
    CE over ``R``). Weights carry no gradient.

    Args:
        lambda_alpha (float): ``lambda_alpha`` of the perplexity.
        lambda_beta (float): ``lambda_beta`` of the perplexity.
        loss_weight (float): Weight of the loss.
        ignore_index (int): Label of ignored pixels (overridden by the
            ``ignore_index`` argument of :meth:`forward`).
        loss_name (str): Name of the loss item (``loss_`` prefix: summed
            into the total loss).
    """

    def __init__(self,
                 lambda_alpha: float = 0.8,
                 lambda_beta: float = 1.0,
                 loss_weight: float = 1.0,
                 ignore_index: int = IGNORE_INDEX,
                 loss_name: str = 'loss_c2s'):
        super().__init__()
        self.lambda_alpha = lambda_alpha
        self.lambda_beta = lambda_beta
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    @torch.no_grad()
    def pixel_weights(self,
                      label: Tensor,
                      weight: Optional[Tensor] = None,
                      confidence: Optional[Tensor] = None,
                      threshold: Optional[Threshold] = None,
                      ignore_index: Optional[int] = None) -> Tensor:
        """RAW weights ``w``: mean 1 over ``R``, 0 elsewhere.

        Args:
            label (Tensor): Long labels, B x H x W.
            weight (Tensor, optional): Non-negative reliability, B x H x W.
            confidence (Tensor, optional): CAM confidence ``nu`` in [0, 1],
                B x H x W (used when ``weight`` is None).
            threshold (float | tuple[float, float], optional): The CPL
                threshold ``xi`` or ``(lo, hi)``, given with ``confidence``.
            ignore_index (int, optional): Label of ignored pixels; the
                module's by default.

        Returns:
            Tensor: Float32 weights, B x H x W (all 0 if ``R`` is empty or
            its reliabilities sum to 0).

        Raises:
            ValueError: ``weight`` or ``confidence`` is not the label's
                shape, or only one of ``confidence`` and ``threshold`` is
                given.
        """
        if ignore_index is None:
            ignore_index = self.ignore_index
        if (confidence is None) != (threshold is None):
            given = 'threshold' if confidence is None else 'confidence'
            raise ValueError('confidence and threshold must be given '
                             f'together, got only {given}')
        if weight is not None:
            reliability = self._checked(weight, label, 'weight').float()
        elif confidence is not None:
            confidence = self._checked(confidence, label, 'confidence')
            reliability = 1 / perplexity(confidence.float(), threshold,
                                         self.lambda_alpha, self.lambda_beta)
        else:
            reliability = torch.ones_like(label, dtype=torch.float)
        region = label != ignore_index
        reliability = reliability * region
        total = reliability.sum()
        scale = region.sum() / torch.where(total > 0, total,
                                           torch.ones_like(total))
        return reliability * scale

    def forward(self,
                seg_logits: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                confidence: Optional[Tensor] = None,
                threshold: Optional[Threshold] = None,
                ignore_index: Optional[int] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        The call of ``BaseDecodeHead.loss_by_feat`` (``weight=seg_weight``,
        ``ignore_index=...``) is supported, and so is
        ``reduction_override='none'`` (``OHEMPixelSampler`` without
        ``thresh``).

        Args:
            seg_logits (Tensor): Logits, B x C x H x W, already at the label
                size (background at channel 0).
            label (Tensor): Long labels, B x H x W, in {0..C-1} or
                ``ignore_index``.
            weight (Tensor, optional): Non-negative reliability,
                B x H x W; renormalised to mean 1 over ``R``.
            confidence (Tensor, optional): CAM confidence ``nu``,
                B x H x W; reliability ``1 / P`` (used without ``weight``).
            threshold (float | tuple[float, float], optional): The CPL
                threshold, given with ``confidence``.
            ignore_index (int, optional): Label of ignored pixels; the
                module's by default.
            reduction_override (str, optional): ``'none'`` returns the
                weighted per-pixel loss ``loss_weight * w CE``, B x H x W;
                ``'mean'`` or None the scalar.

        Returns:
            Tensor: Scalar loss (0, still in the graph, when ``R`` is
            empty), or per pixel for ``reduction_override='none'``.

        Raises:
            ValueError: Logits and labels differ in batch or size, or a
                weighting input is malformed (see :meth:`pixel_weights`).
        """
        if reduction_override not in (None, 'none', 'mean'):
            raise ValueError("reduction_override must be None, 'none' or "
                             f"'mean', got {reduction_override!r}")
        check_logits_and_labels(seg_logits, label)
        if ignore_index is None:
            ignore_index = self.ignore_index
        weights = self.pixel_weights(label, weight, confidence, threshold,
                                     ignore_index)
        ce = F.cross_entropy(
            seg_logits, label, ignore_index=ignore_index, reduction='none')
        loss = weights.to(ce.dtype) * ce
        if reduction_override == 'none':
            return self.loss_weight * loss
        count = (label != ignore_index).sum().clamp(min=1)
        return self.loss_weight * loss.sum() / count

    @staticmethod
    def _checked(values: Tensor, label: Tensor, name: str) -> Tensor:
        """``values`` detached, if it has the label's shape."""
        if values.shape != label.shape:
            raise ValueError(f'{name} must be {tuple(label.shape)} like the '
                             f'labels, got {tuple(values.shape)}')
        return values.detach()

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the losses dict."""
        return self._loss_name
