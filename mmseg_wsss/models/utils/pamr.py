"""Pixel-adaptive mask refinement (PAMR; SSSS, wsfcn.md 2.9).

Masks are smoothed iteratively with image-adaptive affinities over dilated
3 x 3 neighbourhoods: every pixel takes a convex combination of its
neighbours' masks, weighted by how close their colours are relative to the
local colour spread. No parameters are learned.
"""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

# the 8 window offsets around a pixel, in units of the dilation
OFFSETS = tuple((a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)
                if (a, b) != (0, 0))


def dilated_neighbours(x: Tensor, dilations: Sequence[int]) -> Tensor:
    """The neighbours of every pixel in its dilated 3 x 3 windows.

    Neighbour ``8 j + o`` is the pixel at offset ``OFFSETS[o]`` times
    ``dilations[j]``; the pixel itself is not its own neighbour.
    Out-of-image positions repeat the border (replicate padding).

    Args:
        x (Tensor): Maps, B x C x h x w.
        dilations (Sequence[int]): Window dilations D.

    Returns:
        Tensor: B x C x 8|D| x h x w.
    """
    h, w = x.shape[-2:]
    neighbours = []
    for d in dilations:
        padded = F.pad(x, [d] * 4, mode='replicate')
        neighbours += [
            padded[..., d + a * d:d + a * d + h, d + b * d:d + b * d + w]
            for a, b in OFFSETS
        ]
    return torch.stack(neighbours, dim=2)


@MODELS.register_module()
class PAMR(nn.Module):
    """Pixel-adaptive mask refinement (wsfcn.md 2.9; SSSS).

    For pixel ``i`` and neighbour ``n`` (the 8 pixels of the 3 x 3 window at
    each dilation, the centre excluded: 48 neighbours for 6 dilations)::

        kappa[i, n] = -mean_k |I[k, i] - I[k, n]| / (eps + sigma_scale *
                                                    std[k, i])
        alpha[i, :] = softmax_n(kappa[i, :])
        m_t[c, i] = sum_n alpha[i, n] * m_{t-1}[c, n],   t = 1..num_iter

    ``std[k, i]`` is the unbiased (N - 1) standard deviation of channel
    ``k`` over the 9|D| values of the dilated windows (the centre counted
    once per dilation). Borders repeat the edge pixel. ``alpha`` is computed
    once and reused in every iteration; as it sums to 1 over the
    neighbours, per-pixel probability vectors stay probability vectors.

    The refinement is differentiable; to use it as a target (as SSSS and
    WS-FCN do), pass detached masks.

    Args:
        num_iter (int): Number of iterations T (COCO: 5).
        dilations (Sequence[int]): Window dilations D.
        sigma_scale (float): Scale of the local spread in ``kappa``.
        eps (float): Added to the scaled spread (flat regions).

    Raises:
        ValueError: ``num_iter`` is negative or a dilation is not positive.
    """

    def __init__(self,
                 num_iter: int = 10,
                 dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
                 sigma_scale: float = 0.1,
                 eps: float = 1e-8):
        super().__init__()
        if num_iter < 0:
            raise ValueError(f'num_iter must be >= 0, got {num_iter}')
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(
                f'dilations must be positive integers, got {dilations}')
        self.num_iter = num_iter
        self.dilations = tuple(dilations)
        self.sigma_scale = sigma_scale
        self.eps = eps

    def affinity(self, img: Tensor) -> Tensor:
        """Affinities ``alpha`` of every pixel to its neighbours.

        Args:
            img (Tensor): Images, B x K x h x w (RGB in [0, 1] for the
                spec's ``sigma_scale``).

        Returns:
            Tensor: B x 8|D| x h x w, summing to 1 over dim 1; neighbours
            ordered as in :func:`dilated_neighbours`.
        """
        neighbours = dilated_neighbours(img, self.dilations)
        centres = img.unsqueeze(2).expand(-1, -1, len(self.dilations), -1, -1)
        std = torch.cat([neighbours, centres], dim=2).std(
            dim=2, unbiased=True, keepdim=True)
        dist = (img.unsqueeze(2) - neighbours).abs()
        kappa = -(dist / (self.eps + self.sigma_scale * std)).mean(dim=1)
        return kappa.softmax(dim=1)

    def forward(self, img: Tensor, masks: Tensor) -> Tensor:
        """Refine masks with the image's affinities.

        Args:
            img (Tensor): Images, B x K x H x W (de-normalised RGB in
                [0, 1]); resized to the masks' size (bilinear,
                ``align_corners=True``) if it differs.
            masks (Tensor): Masks, B x C x h x w (e.g. softmax masks or
                normalised CAMs).

        Returns:
            Tensor: Refined masks, B x C x h x w.

        Raises:
            ValueError: The inputs are not 4-D or differ in batch size.
        """
        if img.dim() != 4 or masks.dim() != 4 or len(img) != len(masks):
            raise ValueError(
                'PAMR needs images B x K x H x W and masks B x C x h x w, '
                f'got {tuple(img.shape)} and {tuple(masks.shape)}')
        if img.shape[-2:] != masks.shape[-2:]:
            img = F.interpolate(
                img, size=masks.shape[-2:], mode='bilinear',
                align_corners=True)
        # affinities in at least float32: eps underflows in half precision
        dtype = torch.promote_types(img.dtype, torch.float32)
        alpha = self.affinity(img.to(dtype)).to(masks.dtype).unsqueeze(1)
        for _ in range(self.num_iter):
            masks = (alpha * dilated_neighbours(masks, self.dilations)).sum(2)
        return masks

    def extra_repr(self) -> str:
        return (f'num_iter={self.num_iter}, dilations={self.dilations}, '
                f'sigma_scale={self.sigma_scale}')
