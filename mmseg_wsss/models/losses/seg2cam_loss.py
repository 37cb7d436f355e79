"""Segmentation-to-CAM loss (CoSA Seg -> CAM swap)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...pseudo_labels.online import valid_tokens


@MODELS.register_module()
class Seg2CAMLoss(nn.Module):
    """Binary cross-entropy of a CAM against soft segmentation labels.

    cosa.md 2.10 (paper eq. 8): with ``M`` the online CAM logits and
    ``Y`` the foreground channels of the soft labels (SPL)::

        L = -(1 / (C_f |R|)) sum_c sum_{p in R}
            [Y_cp log sigma(M_cp) + (1 - Y_cp) log(1 - sigma(M_cp))]

    ``resolution='token'`` (default, as the code): ``Y`` is downsampled to
    the CAM grid (bilinear, ``align_corners=False``) and ``R`` holds the
    positions whose patch is at least half inside the valid mask (average
    pooling >= 0.5); ``'full'``: the CAM is upsampled to the labels (bilinear)
    and ``R`` is the valid mask. The gradient reaches the CAM only.

    Args:
        relu_before_sigmoid (bool): ReLU on ``M`` before the sigmoid
            (released code; then ``sigma >= 0.5``).
        resolution (str): ``'token'`` or ``'full'``.
        loss_weight (float): Weight of the loss.
        loss_name (str): Name of the loss item.

    Raises:
        ValueError: Unknown ``resolution``.
    """

    def __init__(self,
                 relu_before_sigmoid: bool = False,
                 resolution: str = 'token',
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_s2c'):
        super().__init__()
        if resolution not in ('token', 'full'):
            raise ValueError("resolution must be 'token' or 'full', got "
                             f'{resolution!r}')
        self.relu_before_sigmoid = relu_before_sigmoid
        self.resolution = resolution
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                cam: Tensor,
                soft_labels: Tensor,
                valid: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            cam (Tensor): Online CAM logits, B x C_f x h x w.
            soft_labels (Tensor): Soft labels, B x C x H x W with the
                background at channel 0 (only channels 1..C-1 are used);
                not differentiated.
            valid (Tensor, optional): Bool mask of real image pixels,
                B x H x W; all pixels by default.

        Returns:
            Tensor: Scalar loss (0, still in the graph, when no position is
            valid).

        Raises:
            ValueError: ``soft_labels`` is not B x (C_f + 1) x H x W for
                ``cam``, or ``valid`` is not B x H x W.
        """
        if (cam.dim() != 4 or soft_labels.dim() != 4
                or soft_labels.shape[:2] != (cam.shape[0], cam.shape[1] + 1)):
            raise ValueError(
                f'soft_labels {tuple(soft_labels.shape)} must be B x (C_f + 1)'
                f' x H x W for cam {tuple(cam.shape)} (B x C_f x h x w)')
        batch, _, height, width = soft_labels.shape
        if valid is None:
            valid = soft_labels.new_ones((batch, height, width))
        elif valid.shape != (batch, height, width):
            raise ValueError(f'valid must be {(batch, height, width)}, got '
                             f'{tuple(valid.shape)}')
        target = soft_labels[:, 1:].detach().to(cam.dtype)
        valid = valid.to(cam.dtype)
        if self.resolution == 'full':
            cam = F.interpolate(
                cam,
                size=(height, width),
                mode='bilinear',
                align_corners=False)
        elif cam.shape[-2:] != (height, width):
            target = F.interpolate(
                target,
                size=cam.shape[-2:],
                mode='bilinear',
                align_corners=False)
            valid = valid_tokens(valid, cam.shape[-2:]).to(cam.dtype)
        if self.relu_before_sigmoid:
            cam = cam.relu()
        bce = F.binary_cross_entropy_with_logits(cam, target, reduction='none')
        count = valid.sum().clamp(min=1) * cam.shape[1]
        return self.loss_weight * (bce.sum(dim=1) * valid).sum() / count

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the losses dict."""
        return self._loss_name
