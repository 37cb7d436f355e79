"""CIAN's completion loss: self-training on the cross branch's argmax."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...structures import IGNORE_INDEX

#: Allowed-class rules of cian.md 6.2: intersection (default), the paper's
#: image labels, the official code's classes of the seed crop.
ALLOWED = ('seed_and_image', 'image', 'seed')


def completion_targets(cross_logits: Tensor,
                       img_labels: Optional[Tensor],
                       seed_label: Optional[Tensor],
                       allowed: str = 'seed_and_image',
                       ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Online completion target (cian.md eq. 7-8).

    ``y_i = argmax_c P_cross[c, i]`` where that class is allowed for the
    image, ``ignore_index`` elsewhere. The allowed classes ``A_n`` are the
    background and the image labels (``'image'``), the classes present in
    the image's label map (``'seed'``), or both (``'seed_and_image'``). No
    gradient flows through the target.

    Args:
        cross_logits (Tensor): Cross-branch logits, B x K x H x W.
        img_labels (Tensor, optional): Multi-hot foreground labels,
            B x (K - 1); not read with ``allowed='seed'``.
        seed_label (Tensor, optional): Label map at the logits' size,
            B x H x W (``ignore_index`` ignored); not read with
            ``allowed='image'``.
        allowed (str): One of :data:`ALLOWED`.
        ignore_index (int): Label of ignored pixels.

    Returns:
        Tensor: Long target, B x H x W.

    Raises:
        ValueError: Unknown ``allowed``, or a needed input missing or of
            the wrong shape.
    """
    if allowed not in ALLOWED:
        raise ValueError(f'allowed must be one of {ALLOWED}, got {allowed!r}')
    batch, num_classes = cross_logits.shape[:2]
    mask = torch.ones(
        batch, num_classes, dtype=torch.bool, device=cross_logits.device)
    if allowed != 'seed':
        if img_labels is None or img_labels.shape != (batch, num_classes - 1):
            raise ValueError(
                f'allowed={allowed!r} needs img_labels of shape '
                f'{batch} x {num_classes - 1}, got '
                f'{None if img_labels is None else tuple(img_labels.shape)}')
        mask[:, 1:] &= img_labels > 0
    if allowed != 'image':
        shape = (batch, *cross_logits.shape[2:])
        if seed_label is None or seed_label.shape != shape:
            raise ValueError(
                f'allowed={allowed!r} needs seed_label of shape {shape}, got '
                f'{None if seed_label is None else tuple(seed_label.shape)}')
        # by comparison, not scatter: deterministic; ignored pixels match
        # no class
        classes = torch.arange(num_classes, device=seed_label.device)
        mask &= (seed_label.flatten(1)[:, None] == classes[:, None]).any(2)
    argmax = cross_logits.detach().argmax(dim=1)
    keep = mask.gather(1, argmax.flatten(1)).view_as(argmax)
    return argmax.where(keep, ignore_index)


@MODELS.register_module()
class CompletionLoss(nn.Module):
    """Cross-entropy against the completion target (cian.md 6.2).

    ``L = loss_weight * (1 / |S|) sum_{i in S} -log softmax(z)[y_i, i]``
    over the valid pixels ``S`` of the whole batch; an empty ``S`` gives
    exactly 0 (still in the graph). The head builds the target once with
    :meth:`targets` and applies the loss to both branches.

    Args:
        allowed (str): Allowed-class rule of :func:`completion_targets`.
        loss_weight (float): Weight of the loss.
        ignore_index (int): Label of ignored pixels.
        loss_name (str): Name of the loss item; the CIAN heads log it per
            branch (``loss_cp_self``, ``loss_cp_cross``).

    Raises:
        ValueError: Unknown ``allowed``.
    """

    def __init__(self,
                 allowed: str = 'seed_and_image',
                 loss_weight: float = 1.0,
                 ignore_index: int = IGNORE_INDEX,
                 loss_name: str = 'loss_cp'):
        super().__init__()
        if allowed not in ALLOWED:
            raise ValueError(
                f'allowed must be one of {ALLOWED}, got {allowed!r}')
        self.allowed = allowed
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    @property
    def needs_img_labels(self) -> bool:
        """Whether :meth:`targets` reads image labels."""
        return self.allowed != 'seed'

    def targets(self, cross_logits: Tensor, img_labels: Optional[Tensor],
                seed_label: Optional[Tensor]) -> Tensor:
        """:func:`completion_targets` with this loss's rule, B x H x W."""
        return completion_targets(cross_logits, img_labels, seed_label,
                                  self.allowed, self.ignore_index)

    def forward(self, seg_logits: Tensor, target: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            seg_logits (Tensor): A branch's logits, B x K x H x W.
            target (Tensor): :meth:`targets`, B x H x W.

        Returns:
            Tensor: Scalar loss.

        Raises:
            ValueError: Logits and target differ in size.
        """
        if (seg_logits.shape[0], *seg_logits.shape[2:]) != target.shape:
            raise ValueError(f'logits {tuple(seg_logits.shape)} and target '
                             f'{tuple(target.shape)} differ in size')
        total = F.cross_entropy(
            seg_logits,
            target,
            ignore_index=self.ignore_index,
            reduction='sum')
        valid = (target != self.ignore_index).sum().clamp(min=1)
        return self.loss_weight * total / valid

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the losses dict."""
        return self._loss_name
