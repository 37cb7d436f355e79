"""Dense (bilateral) energy regulariser of the released CoSA code.

cosa.md 2.12 (code preset only, off by default: 7 item 14). The released
code evaluates the bilateral kernel with a compiled CPU permutohedral
lattice, the ``bilateralfilter`` extension of the rloss project (built from
its source; not on PyPI, not vendored here). ``backend='lattice'`` calls
that extension when it is installed; ``backend='exact'`` evaluates the
kernel exactly (:func:`dense_bilateral_filter`; no package of our stack
exposes a lattice on arbitrary ``C``-channel maps: ``pydensecrf`` reaches
its lattice only inside a mean-field step and ``cv2.bilateralFilter`` is a
normalised, windowed filter guided by the filtered image itself).
``backend='auto'`` takes the lattice when the extension imports, else the
exact kernel.
"""
import importlib
import logging
from typing import Callable, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor

from ...structures import IGNORE_INDEX

#: Kernel entries held at once by :func:`dense_bilateral_filter` (float32:
#: 64 MiB; the kernel is built in place).
CHUNK_ELEMENTS = 2**24

BACKENDS = ('auto', 'exact', 'lattice')

#: Import name of the released code's permutohedral-lattice extension.
LATTICE_MODULE = 'bilateralfilter'


def bilateral_features(images: Tensor, sigma_rgb: float,
                       sigma_xy: float) -> Tensor:
    """Per-pixel features whose squared distance is the kernel exponent.

    Args:
        images (Tensor): RGB images, B x 3 x H x W, 0-255.
        sigma_rgb (float): Colour bandwidth (0-255 units).
        sigma_xy (float): Spatial bandwidth in pixels of ``images``.

    Returns:
        Tensor: B x (H W) x 5, ``(x / sigma_xy, y / sigma_xy,
        rgb / sigma_rgb)`` in row-major pixel order.
    """
    batch, _, height, width = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, device=images.device, dtype=images.dtype),
        torch.arange(width, device=images.device, dtype=images.dtype),
        indexing='ij')
    xy = torch.stack([xs, ys]).expand(batch, 2, height, width) / sigma_xy
    feats = torch.cat([xy, images / sigma_rgb], dim=1)
    return feats.flatten(2).transpose(1, 2)


def dense_bilateral_filter(values: Tensor, features: Tensor) -> Tensor:
    """Exact dense Gaussian filter ``out_i = sum_j K_ij values_j``.

    ``K_ij = exp(-||f_i - f_j||^2 / 2)`` over all pixel pairs of an image
    (the self term ``K_ii = 1`` included, no normalisation). Rows of ``K``
    are built :data:`CHUNK_ELEMENTS` entries at a time, so the extra memory
    is bounded whatever N is, but the cost is ``N^2`` exponentials and
    ``N^2 (C + 5)`` multiply-adds per image: N = 64 x 64, C = 21 takes
    about 2.5 s on one CPU core (forward and backward), the code preset's
    N = 224 x 224 about 150 times that (a GPU's job: about 1.3e11 flops).

    Args:
        values (Tensor): B x C x N maps.
        features (Tensor): B x N x D features (:func:`bilateral_features`).

    Returns:
        Tensor: B x C x N filtered maps, dtype of ``values``.
    """
    num_pixels = features.shape[1]
    rows = max(1, CHUNK_ELEMENTS // num_pixels)
    out = torch.empty_like(values)
    # sums of up to N terms: never in float16 under AMP
    with torch.autocast(values.device.type, enabled=False):
        for b in range(values.shape[0]):
            for start in range(0, num_pixels, rows):
                # difference form, not the matmul expansion: exact for the
                # large feature norms of 0-255 colours
                dist = torch.cdist(
                    features[b, start:start + rows], features[b],
                    compute_mode='donot_use_mm_for_euclid_dist')
                kernel = dist.square_().mul_(-0.5).exp_()
                out[b, :, start:start + rows] = values[b] @ kernel.T
    return out


def lattice_bilateral_filter(values: Tensor, images: Tensor,
                             sigma_rgb: float, sigma_xy: float) -> Tensor:
    """Approximate dense Gaussian filter by the permutohedral lattice.

    Approximately the ``out_i = sum_j K_ij values_j`` of
    :func:`dense_bilateral_filter` with the features of
    :func:`bilateral_features` (unnormalised, the self term included),
    evaluated on the CPU by the released code's
    ``bilateralfilter.bilateralfilter_batch`` (rloss's extension, one image
    per OpenMP thread), in float32, in time linear in the pixels. The
    lattice's error depends on where each pixel's features fall in it, so
    its energies differ from the exact kernel's by a data-dependent factor,
    not a constant one (the code's weight 1e-7 was set with the lattice).

    Args:
        values (Tensor): B x C x (H W) maps, row-major pixels.
        images (Tensor): RGB images, B x 3 x H x W, 0-255.
        sigma_rgb (float): Colour bandwidth (0-255 units).
        sigma_xy (float): Spatial bandwidth in pixels of ``images``.

    Returns:
        Tensor: B x C x (H W) filtered maps, on the device and dtype of
        ``values``.

    Raises:
        ImportError: The ``bilateralfilter`` extension is not installed.
    """
    lattice = importlib.import_module(LATTICE_MODULE)
    batch, channels = values.shape[:2]
    height, width = images.shape[2:]

    def flat(tensor: Tensor) -> np.ndarray:
        tensor = tensor.detach().to('cpu', torch.float32).contiguous()
        return tensor.numpy().ravel()

    out = np.zeros(batch * channels * height * width, dtype=np.float32)
    lattice.bilateralfilter_batch(
        flat(images), flat(values), out, batch, channels, height, width,
        float(sigma_rgb), float(sigma_xy))
    return torch.from_numpy(out).view(values.shape).to(values)


class _DenseEnergy(torch.autograd.Function):
    """``E = -(1/B) sum_k sum_i P_ki g_i (K P_k)_i`` with ``P = p ROI`` and
    the spec's gradient ``dE/dp = -2 g (K P) ROI / B`` (cosa.md 2.12).

    The spec's gradient is the released code's, not the derivative of
    ``E``: with the gate held constant that derivative is
    ``-(g (K P) + K (g P)) ROI / B``, which equals the spec's only where
    ``g`` is the same at every pixel.
    """

    @staticmethod
    def forward(ctx, probs: Tensor, roi: Tensor, gate: Tensor,
                kernel_filter: Callable[[Tensor], Tensor]) -> Tensor:
        masked = probs * roi.unsqueeze(1)
        filtered = kernel_filter(masked)
        gate_roi = (gate * roi).unsqueeze(1)
        ctx.save_for_backward(gate_roi, filtered)
        return -(masked * gate.unsqueeze(1) * filtered).sum() / len(probs)

    @staticmethod
    def backward(ctx, grad_energy: Tensor) -> Tuple[Tensor, None, None, None]:
        gate_roi, filtered = ctx.saved_tensors
        grad_probs = (-2 / len(filtered)) * gate_roi * filtered
        return grad_energy * grad_probs, None, None, None


@MODELS.register_module()
class DenseEnergyLoss(nn.Module):
    """Gated dense CRF energy of the segmentation (cosa.md 2.12).

    Everything is downscaled by ``scale_factor`` (image, ROI and labels
    nearest, probabilities bilinear), ``p = softmax`` of the logits. With
    the gate ``g_i = max(0, ROI_i - max_k p_ki)``, set to 1 where the label
    is ignored, and the bilateral kernel
    ``K_ij = exp(-|xy_i - xy_j|^2 / (2 s_xy^2) - |rgb_i - rgb_j|^2 /
    (2 sigma_rgb^2))``, ``s_xy = sigma_xy * scale_factor`` pixels of the
    downscaled grid::

        E = -(1/B) sum_k sum_i (p_ki ROI_i) g_i sum_j K_ij (p_kj ROI_j)
        L = loss_weight * weight * E

    ``E <= 0``: it falls as pixels that are close in position and colour
    agree. Its gradient w.r.t. the downscaled ``p`` is the spec's
    ``-2 g (K p ROI) ROI / B`` (gate constant), carried through the
    resize and the softmax by autograd.

    Args:
        weight (float): Energy weight (code: 1e-7).
        sigma_rgb (float): Colour bandwidth, 0-255 units.
        sigma_xy (float): Spatial bandwidth in pixels of the input size.
        scale_factor (float): Downscaling factor in (0, 1].
        backend (str): ``'lattice'`` (:func:`lattice_bilateral_filter`,
            the released code's, needs its ``bilateralfilter`` extension),
            ``'exact'`` (:func:`dense_bilateral_filter`) or ``'auto'``
            (the lattice when its extension imports, else exact; see the
            module note). The resolved name is kept in ``backend``.
        loss_weight (float): Weight of the loss.
        loss_name (str): Name of the loss item.
        max_exact_pixels (int): Largest downscaled image (H W pixels) the
            exact backend accepts; the default is the code preset's
            448 x 448 crop at scale 0.5.

    Raises:
        ValueError: Unknown backend, ``scale_factor`` outside (0, 1],
            non-positive bandwidths or ``max_exact_pixels``.
        ImportError: ``backend='lattice'`` without its extension.
    """

    def __init__(self,
                 weight: float = 1e-7,
                 sigma_rgb: float = 15.0,
                 sigma_xy: float = 100.0,
                 scale_factor: float = 0.5,
                 backend: str = 'auto',
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_reg',
                 max_exact_pixels: int = 224 * 224):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(
                f'backend must be one of {BACKENDS}, got {backend!r}')
        if not 0 < scale_factor <= 1:
            raise ValueError(
                f'scale_factor must be in (0, 1], got {scale_factor}')
        if sigma_rgb <= 0 or sigma_xy <= 0:
            raise ValueError('sigma_rgb and sigma_xy must be positive, got '
                             f'{sigma_rgb} and {sigma_xy}')
        if max_exact_pixels < 1:
            raise ValueError(
                f'max_exact_pixels must be >= 1, got {max_exact_pixels}')
        self.weight = weight
        self.sigma_rgb = sigma_rgb
        self.sigma_xy = sigma_xy
        self.scale_factor = scale_factor
        self.backend = self._resolve(backend)
        self.loss_weight = loss_weight
        self._loss_name = loss_name
        self.max_exact_pixels = max_exact_pixels

    @staticmethod
    def _resolve(backend: str) -> str:
        """The backend ``'auto'`` stands for; checks the lattice imports.

        An installed extension that fails to import (often a build without
        ``-fopenmp`` at link time: ``undefined symbol: GOMP_parallel``)
        makes ``'auto'`` warn with the error before it takes the exact
        kernel.
        """
        level = logging.INFO
        if backend != 'exact':
            try:
                importlib.import_module(LATTICE_MODULE)
            except ImportError as error:
                if backend == 'lattice':
                    raise ImportError(
                        f"DenseEnergyLoss: backend='lattice' needs the "
                        f'{LATTICE_MODULE!r} extension (the released '
                        "code's permutohedral lattice, built from rloss's "
                        f'source), which failed to import: {error}') from error
                if not isinstance(error, ModuleNotFoundError):
                    level = logging.WARNING
                    print_log(
                        f'DenseEnergyLoss: the {LATTICE_MODULE!r} extension '
                        f'is installed but failed to import ({error}); '
                        'falling back to the exact kernel',
                        logger='current',
                        level=level)
                backend = 'exact'
            else:
                backend = 'lattice'
        print_log(f'DenseEnergyLoss: {backend} bilateral filter',
                  logger='current', level=level)
        return backend

    def forward(self,
                seg_logits: Tensor,
                images: Tensor,
                roi: Tensor,
                label: Tensor,
                ignore_index: int = IGNORE_INDEX) -> Tensor:
        """Compute the loss.

        Args:
            seg_logits (Tensor): Segmentation logits, B x C x H x W, at the
                image size.
            images (Tensor): De-normalised RGB images, B x 3 x H x W, 0-255.
            roi (Tensor): Valid-pixel mask (bool or 0/1), B x H x W.
            label (Tensor): Pseudo labels, B x H x W, ``ignore_index`` where
                unlabelled.
            ignore_index (int): Label of ignored pixels (gate 1).

        Returns:
            Tensor: Scalar loss (<= 0 for positive weights).

        Raises:
            ValueError: Shapes disagree, or the downscaled image is empty
                or, on the exact backend, has more than ``max_exact_pixels``
                pixels.
        """
        batch, _, height, width = seg_logits.shape
        if images.shape != (batch, 3, height, width):
            raise ValueError(
                f'images must be {batch} x 3 x {height} x {width} (RGB at '
                f'the logits size), got {tuple(images.shape)}')
        for name, mask in (('roi', roi), ('label', label)):
            if mask.shape != (batch, height, width):
                raise ValueError(f'{name} must be {batch} x {height} x '
                                 f'{width}, got {tuple(mask.shape)}')
        size = (int(height * self.scale_factor),
                int(width * self.scale_factor))
        num_pixels = size[0] * size[1]
        if num_pixels == 0:
            raise ValueError(
                f'scale_factor {self.scale_factor} shrinks the {height} x '
                f'{width} input to {size[0]} x {size[1]} pixels')
        if (self.backend == 'exact'
                and num_pixels > self.max_exact_pixels):
            raise ValueError(
                f'the exact dense energy on {size[0]} x {size[1]} = '
                f'{num_pixels} pixels (input {height} x {width}, '
                f'scale_factor {self.scale_factor}) exceeds max_exact_pixels='
                f'{self.max_exact_pixels}: its cost grows as pixels^2; '
                f'install the {LATTICE_MODULE!r} extension for the lattice '
                'backend, lower scale_factor or raise max_exact_pixels')
        dtype = torch.promote_types(seg_logits.dtype, torch.float32)
        probs = seg_logits.to(dtype).softmax(dim=1)
        images = images.to(dtype)
        roi = roi.to(dtype)
        if size != (height, width):
            probs = F.interpolate(
                probs, size=size, mode='bilinear', align_corners=False)
            images = F.interpolate(images, size=size, mode='nearest')
            roi = F.interpolate(roi[:, None], size=size, mode='nearest')[:, 0]
            label = F.interpolate(
                label[:, None].float(), size=size, mode='nearest')[:, 0]
        probs = probs.flatten(2)
        roi = roi.flatten(1)
        gate = (roi - probs.detach().amax(dim=1)).clamp(min=0)
        gate = gate.masked_fill(label.flatten(1) == ignore_index, 1)
        sigma_xy = self.sigma_xy * self.scale_factor
        if self.backend == 'lattice':

            def kernel_filter(values: Tensor) -> Tensor:
                return lattice_bilateral_filter(values, images,
                                                self.sigma_rgb, sigma_xy)
        else:
            features = bilateral_features(images, self.sigma_rgb, sigma_xy)

            def kernel_filter(values: Tensor) -> Tensor:
                return dense_bilateral_filter(values, features)

        energy = _DenseEnergy.apply(probs, roi, gate, kernel_filter)
        return self.loss_weight * self.weight * energy

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the losses dict."""
        return self._loss_name
