"""The one multi-scale and horizontal-flip loop.

CAMs (:func:`~mmseg_wsss.models.utils.cam.multiscale_cam`), the test-time
options of the segmentors (``test_cfg.scales`` / ``flip``) and the
pseudo-label generators all run a network on rescaled and flipped copies of
a batch and combine what comes out; :func:`multiscale_flip` is that loop.
"""
from typing import Callable, Optional, Sequence, Tuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

Acc = TypeVar('Acc')


def rescale(img: Tensor, scale: float, mode: str = 'bilinear') -> Tensor:
    """Resize a batch by ``scale`` (``img`` itself at 1).

    Args:
        img (Tensor): B x C x H x W.
        scale (float): Factor; each side becomes ``max(1, round(s * scale))``.
        mode (str): ``'bilinear'`` or ``'bicubic'`` (``align_corners=False``;
            bicubic is antialiased when shrinking, as PIL's resize).

    Returns:
        Tensor: B x C x H' x W'.
    """
    if scale == 1.0:
        return img
    size = [max(1, round(s * scale)) for s in img.shape[2:]]
    return F.interpolate(
        img,
        size=size,
        mode=mode,
        align_corners=False,
        antialias=mode == 'bicubic' and scale < 1)


def multiscale_flip(fn: Callable[[Tensor], Tensor],
                    img: Tensor,
                    reduce: Callable[[Optional[Acc], Tensor], Acc],
                    scales: Sequence[float] = (1.0, ),
                    flip: bool = False,
                    size: Optional[Tuple[int, int]] = None,
                    img_mode: str = 'bilinear') -> Acc:
    """Run ``fn`` on every scale (and flip) of a batch; fold the outputs.

    For each scale, ``img`` is resized (:func:`rescale`) and, with ``flip``,
    concatenated with its horizontally flipped copy along the batch, so that
    ``fn`` runs once per scale. The flipped half of its output is flipped
    back, and both halves are resized bilinearly to ``size`` and handed to
    ``reduce``. ``fn`` must treat the images of a batch independently (eval
    mode).

    Args:
        fn (Callable): Maps images N x 3 x H' x W' to maps N x K x h' x w';
            called with N = B, or 2B with ``flip`` (the flipped copies in
            the second half). Without ``flip``, at scale 1 it gets ``img``
            itself.
        img (Tensor): Images, B x 3 x H x W.
        reduce (Callable): ``acc = reduce(acc, views)`` once per scale, in
            the order of ``scales``, starting from ``acc=None``. ``views``
            is V x B x K x size: V = 1, or 2 with ``flip`` (the original
            view, then the flipped one flipped back).
        scales (Sequence[float]): Image scale factors.
        flip (bool): Also run the horizontally flipped images.
        size (tuple[int, int], optional): Size of the views handed to
            ``reduce``; the input's by default.
        img_mode (str): Interpolation of the images (:func:`rescale`); the
            outputs are always resized bilinearly.

    Returns:
        The last ``acc``.

    Raises:
        ValueError: ``scales`` is empty.
    """
    if not scales:
        raise ValueError('scales must not be empty')
    size = tuple(size or img.shape[2:])
    batch = img.shape[0]
    acc = None
    for scale in scales:
        scaled = rescale(img, scale, img_mode)
        if flip:
            scaled = torch.cat([scaled, scaled.flip(3)])
        out = fn(scaled)
        if flip:
            out = torch.cat([out[:batch], out[batch:].flip(3)])
        out = F.interpolate(
            out, size=size, mode='bilinear', align_corners=False)
        acc = reduce(acc, out.unflatten(0, (-1, batch)))
    return acc


def sum_views(total: Optional[Tensor], views: Tensor) -> Tensor:
    """Reducer of :func:`multiscale_flip`: add up the views.

    Args:
        total (Tensor, optional): Running sum, B x K x H x W.
        views (Tensor): V x B x K x H x W.

    Returns:
        Tensor: B x K x H x W.
    """
    for view in views:
        total = view if total is None else total + view
    return total
