"""Cross-entropy with background and foreground averaged apart (CoSA code)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...structures import IGNORE_INDEX
from .raw_ce_loss import check_logits_and_labels


@MODELS.register_module()
class FgBgBalancedCELoss(nn.Module):
    """Mean CE of background pixels and of foreground pixels, averaged.

    cosa.md 2.13 (released-code preset), over the whole batch::

        L_fb = loss_weight * (0.5 sum_bg CE / (|bg| + 1e-6)
                              + 0.5 sum_fg CE / (|fg| + 1e-6))

    with ``bg`` the pixels labelled 0 and ``fg`` those labelled neither 0
    nor ``ignore_index``. Usable as a stock decode head's ``loss_decode``
    without a pixel sampler.

    Args:
        loss_weight (float): Weight of the loss.
        ignore_index (int): Label of ignored pixels (overridden by the
            ``ignore_index`` argument of :meth:`forward`).
        loss_name (str): Name of the loss item.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 ignore_index: int = IGNORE_INDEX,
                 loss_name: str = 'loss_c2s'):
        super().__init__()
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    def forward(self,
                seg_logits: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            seg_logits (Tensor): Logits, B x C x H x W, already at the label
                size (background at channel 0).
            label (Tensor): Long labels, B x H x W.
            weight (Tensor, optional): Must be None (a pixel sampler's
                weight has no meaning here).
            ignore_index (int, optional): Label of ignored pixels; the
                module's by default.

        Returns:
            Tensor: Scalar loss (0, still in the graph, without labelled
            pixels).

        Raises:
            ValueError: Logits and labels differ in batch or size, or a
                ``weight`` is given.
        """
        if weight is not None:
            raise ValueError('FgBgBalancedCELoss takes no per-pixel weight; '
                             'remove the decode head\'s sampler')
        check_logits_and_labels(seg_logits, label)
        if ignore_index is None:
            ignore_index = self.ignore_index
        ce = F.cross_entropy(
            seg_logits, label, ignore_index=ignore_index, reduction='none')
        background = label == 0
        foreground = (label != 0) & (label != ignore_index)
        loss_bg = (ce * background).sum() / (background.sum() + 1e-6)
        loss_fg = (ce * foreground).sum() / (foreground.sum() + 1e-6)
        return self.loss_weight * 0.5 * (loss_bg + loss_fg)

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the losses dict."""
        return self._loss_name
