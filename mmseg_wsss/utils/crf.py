"""Dense CRF post-processing on ``pydensecrf`` (optional dependency).

``pydensecrf`` is imported inside the functions, so the package imports
without it; calling a function without it raises an ``ImportError`` that says
what to install.
"""
from types import ModuleType
from typing import Tuple

import numpy as np

INSTALL_HINT = 'pip install pydensecrf2==1.1'


def _import_pydensecrf() -> Tuple[ModuleType, ModuleType]:
    """Import ``pydensecrf.densecrf`` and ``pydensecrf.utils`` or explain
    how to install them."""
    try:
        import pydensecrf.densecrf as dcrf
        import pydensecrf.utils as crf_utils
    except ImportError as e:
        raise ImportError('Dense CRF needs pydensecrf (import name '
                          f'`pydensecrf`): `{INSTALL_HINT}`') from e
    return dcrf, crf_utils


def _check_image(img: np.ndarray, hw: tuple, what: str) -> np.ndarray:
    """Return ``img`` as a C-contiguous ``H x W x 3`` uint8 array."""
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{what}: image must be an H x W x 3 uint8 RGB '
                         f'array, got shape {img.shape} dtype {img.dtype}')
    if img.shape[:2] != tuple(hw):
        raise ValueError(f'{what}: image size {img.shape[:2]} does not '
                         f'match the map size {tuple(hw)}')
    return np.ascontiguousarray(img)


def _inference(img: np.ndarray, unary: np.ndarray, num_iters: int,
               pos_sxy: float, pos_compat: float, bi_sxy: float,
               bi_srgb: float, bi_compat: float) -> np.ndarray:
    """Mean-field inference with a Gaussian and a bilateral Potts kernel.

    Args:
        img (np.ndarray): ``H x W x 3`` uint8 RGB, C-contiguous.
        unary (np.ndarray): ``C x (H*W)`` float32 energies (-log p).

    Returns:
        np.ndarray: ``C x H x W`` float32 posterior marginals.
    """
    dcrf, _ = _import_pydensecrf()
    h, w = img.shape[:2]
    num_labels = unary.shape[0]
    crf = dcrf.DenseCRF2D(w, h, num_labels)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=pos_sxy, compat=pos_compat)
    crf.addPairwiseBilateral(
        sxy=bi_sxy, srgb=bi_srgb, rgbim=img, compat=bi_compat)
    q = crf.inference(num_iters)
    return np.asarray(q, dtype=np.float32).reshape(num_labels, h, w)


def dense_crf(img: np.ndarray,
              probs: np.ndarray,
              num_iters: int = 10,
              pos_sxy: float = 3,
              pos_compat: float = 3,
              bi_sxy: float = 80,
              bi_srgb: float = 13,
              bi_compat: float = 10) -> np.ndarray:
    """Refine class probabilities with a fully connected CRF.

    The defaults are PSA's ``crf_inference`` (Ahn & Kwak, 2018), which CIAN
    uses too: 10 iterations, Gaussian kernel sxy=3 compat=3, bilateral
    kernel sxy=80 srgb=13 compat=10. IRN's label CRF is ``bi_sxy=50,
    bi_srgb=5``; AuxSegNet's test CRF is ``pos_sxy=4, bi_sxy=83, bi_srgb=5,
    bi_compat=3``.

    Args:
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        probs (np.ndarray): ``C x H x W`` class probabilities (each pixel
            sums to 1); the unary is ``-log(max(p, 1e-5))``.
        num_iters (int): Mean-field iterations.

    Returns:
        np.ndarray: ``C x H x W`` float32 posterior; each pixel sums to 1.
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError('dense_crf: probs must be C x H x W, got shape '
                         f'{probs.shape}')
    if not np.all(np.isfinite(probs)) or probs.min() < 0:
        raise ValueError('dense_crf: probs must be finite and >= 0, got '
                         f'min {np.nanmin(probs)}')
    img = _check_image(img, probs.shape[1:], 'dense_crf')
    _, crf_utils = _import_pydensecrf()
    unary = crf_utils.unary_from_softmax(probs)
    return _inference(img, unary, num_iters, pos_sxy, pos_compat, bi_sxy,
                      bi_srgb, bi_compat)


def crf_labels(img: np.ndarray, probs: np.ndarray, **kwargs) -> np.ndarray:
    """Argmax of :func:`dense_crf` (ties go to the lowest class index).

    Returns:
        np.ndarray: ``H x W`` int64 label map.
    """
    return dense_crf(img, probs, **kwargs).argmax(axis=0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1. / (1. + np.exp(-x))


def saliency_crf(img: np.ndarray,
                 sal: np.ndarray,
                 num_iters: int = 1,
                 tau: float = 1.05,
                 pos_sxy: float = 3,
                 pos_compat: float = 3,
                 bi_sxy: float = 60,
                 bi_srgb: float = 5,
                 bi_compat: float = 5) -> np.ndarray:
    """DSS-style binary CRF on a saliency map (AuxSegNet+ label update).

    With ``a`` the foreground probability and eps = 1e-8 the unaries are
    ``E_bg = -log(1 - a + eps) / (tau * sigmoid(1 - a))`` and
    ``E_fg = -log(a + eps) / (tau * sigmoid(a))``.

    Args:
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        sal (np.ndarray): ``H x W`` float saliency in [0, 1].
        num_iters (int): Mean-field iterations (DSS: 1).
        tau (float): Unary temperature.

    Returns:
        np.ndarray: ``H x W`` float32 foreground marginal in [0, 1].
    """
    sal = np.asarray(sal, dtype=np.float64)
    if sal.ndim != 2:
        raise ValueError('saliency_crf: saliency must be H x W, got shape '
                         f'{sal.shape}')
    if not np.all(np.isfinite(sal)) or sal.min() < 0 or sal.max() > 1:
        raise ValueError('saliency_crf: saliency must lie in [0, 1], got '
                         f'[{np.nanmin(sal)}, {np.nanmax(sal)}]')
    img = _check_image(img, sal.shape, 'saliency_crf')
    eps = 1e-8
    e_bg = -np.log(1. - sal + eps) / (tau * _sigmoid(1. - sal))
    e_fg = -np.log(sal + eps) / (tau * _sigmoid(sal))
    unary = np.stack([e_bg, e_fg]).reshape(2, -1).astype(np.float32)
    q = _inference(img, unary, num_iters, pos_sxy, pos_compat, bi_sxy,
                   bi_srgb, bi_compat)
    return q[1]
