"""Class activation maps: the one implementation every method calls.

A CAM is the classifier applied at every position of the feature map instead
of after pooling (Zhou et al., 2016). Shapes: ``B`` images, ``K`` foreground
classes (background excluded), ``C`` feature channels.
"""
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .multiscale import multiscale_flip, sum_views


def cam_from_features(feats: Tensor, weight: Tensor,
                      bias: Optional[Tensor] = None) -> Tensor:
    """Raw CAMs: classifier weights applied at every position.

    Args:
        feats (Tensor): Features, B x C x h x w.
        weight (Tensor): Classifier weights, K x C (or K x C x 1 x 1).
        bias (Tensor, optional): Classifier bias, K.

    Returns:
        Tensor: Raw (signed) CAMs, B x K x h x w.
    """
    weight = weight.reshape(weight.shape[0], -1, 1, 1)
    return F.conv2d(feats, weight, bias)


def max_normalize(cam: Tensor, eps: float = 1e-5) -> Tensor:
    """ReLU, then divide each map by its spatial maximum (+ ``eps``).

    Args:
        cam (Tensor): CAMs, B x K x h x w.

    Returns:
        Tensor: CAMs in [0, 1), B x K x h x w.
    """
    cam = F.relu(cam)
    return cam / (cam.flatten(2).amax(dim=2)[..., None, None] + eps)


def minmax_normalize(cam: Tensor, eps: float = 1e-5) -> Tensor:
    """Map each CAM to [0, 1) by its spatial min and max.

    Args:
        cam (Tensor): CAMs, B x K x h x w.

    Returns:
        Tensor: B x K x h x w.
    """
    flat = cam.flatten(2)
    lo = flat.amin(dim=2)[..., None, None]
    hi = flat.amax(dim=2)[..., None, None]
    return (cam - lo) / (hi - lo + eps)


def mask_absent_classes(cam: Tensor, img_labels: Tensor) -> Tensor:
    """Zero the maps of classes absent from the image labels.

    Args:
        cam (Tensor): CAMs, B x K x h x w.
        img_labels (Tensor): Multi-hot labels, B x K.

    Returns:
        Tensor: B x K x h x w.
    """
    return cam * (img_labels > 0).to(cam.dtype)[..., None, None]


def multiscale_cam(cam_fn: Callable[[Tensor], Tensor],
                   img: Tensor,
                   scales: Sequence[float] = (1.0, ),
                   flip: bool = False,
                   size: Optional[Tuple[int, int]] = None,
                   per_scale_norm: bool = False) -> Tensor:
    """Sum of ReLU'd CAMs over scales (and horizontal flips).

    Runs :func:`~.multiscale.multiscale_flip`: each scaled image batch
    (with ``flip``, together with its flipped copy: one ``cam_fn`` call per
    scale) goes through ``cam_fn``; its CAMs are ReLU'd, optionally
    max-normalised per scale, flipped back and resized bilinearly to
    ``size``. Normalise the sum with :func:`max_normalize`.

    Args:
        cam_fn (Callable): Maps an image batch N x 3 x H' x W' to raw CAMs
            N x K x h' x w', each image independently.
        img (Tensor): Normalised images, B x 3 x H x W.
        scales (Sequence[float]): Image scale factors.
        flip (bool): Also run the horizontally flipped images.
        size (tuple[int, int], optional): Output size; the input's by default.
        per_scale_norm (bool): Max-normalise each scale before summing.

    Returns:
        Tensor: Summed CAMs, B x K x size.
    """

    def relu_cam(images: Tensor) -> Tensor:
        cam = F.relu(cam_fn(images))
        return max_normalize(cam) if per_scale_norm else cam

    return multiscale_flip(relu_cam, img, sum_views, scales, flip, size)


def cam_to_seg_logits(cam: Tensor, bg_score: float) -> Tensor:
    """Stack a constant background score in front of normalised CAMs.

    ``argmax`` of the result is the usual CAM segmentation: background where
    every class is below ``bg_score``, else the strongest class (ties go to
    the lowest index, as ``torch.argmax`` returns the first maximum).

    Args:
        cam (Tensor): Normalised CAMs, B x K x H x W.
        bg_score (float): Background threshold.

    Returns:
        Tensor: B x (K + 1) x H x W.
    """
    bg = torch.full_like(cam[:, :1], bg_score)
    return torch.cat([bg, cam], dim=1)
