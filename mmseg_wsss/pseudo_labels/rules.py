"""Rules that turn normalised CAMs (and saliency) into pseudo labels.

Shapes: ``K`` foreground classes, maps ``K x H x W`` with values in [0, 1],
already zero for classes absent from the image. Labels: 0 background,
``c + 1`` for foreground class index ``c``, 255 ignore.

Every rule is registered in :data:`LABEL_RULES` under a short name, so a
generator config picks one by name (``rule='threshold'``) and a new method
adds its own with ``@LABEL_RULES.register_module('name')``.
"""
import numpy as np
from mmengine.registry import Registry

from ..structures import IGNORE_INDEX

LABEL_RULES = Registry('pseudo-label rule')


def _strongest_class(cam: np.ndarray) -> np.ndarray:
    """Index of the strongest class per pixel; ties go to the lowest index."""
    return np.argmax(cam, axis=0)  # numpy returns the first maximum


@LABEL_RULES.register_module('threshold')
def cam_to_label(cam: np.ndarray, bg_thr: float) -> np.ndarray:
    """Background threshold rule: background where every CAM < ``bg_thr``.

    Args:
        cam (np.ndarray): K x H x W normalised CAMs.
        bg_thr (float): Background threshold.

    Returns:
        np.ndarray: H x W uint8 label map in {0, 1..K}.
    """
    label = _strongest_class(cam) + 1
    label[cam.max(axis=0) < bg_thr] = 0
    return label.astype(np.uint8)


@LABEL_RULES.register_module('auxsegnet')
def fuse_cam_saliency(cam: np.ndarray,
                      saliency: np.ndarray,
                      cam_thr: float = 0.2,
                      sal_thr: float = 0.06) -> np.ndarray:
    """AuxSegNet(+) fusion (auxsegnet_plus.md 3.4): CAM and saliency agree.

    A pixel is foreground for the CAM if its strongest class exceeds
    ``cam_thr`` and for saliency if it exceeds ``sal_thr`` (both strict).
    Both say foreground: the strongest class; neither: background; they
    disagree: ignore.

    Args:
        cam (np.ndarray): K x H x W normalised CAMs.
        saliency (np.ndarray): H x W saliency in [0, 1].
        cam_thr (float): CAM foreground threshold.
        sal_thr (float): Saliency foreground threshold.

    Returns:
        np.ndarray: H x W uint8 label map in {0, 1..K, 255}.
    """
    cam_fg = cam.max(axis=0) > cam_thr
    sal_fg = saliency > sal_thr
    label = np.full(saliency.shape, IGNORE_INDEX, dtype=np.uint8)
    label[~cam_fg & ~sal_fg] = 0
    both = cam_fg & sal_fg
    label[both] = (_strongest_class(cam) + 1)[both]
    return label


@LABEL_RULES.register_module('cian')
def cam_saliency_seeds(cam: np.ndarray,
                       saliency: np.ndarray,
                       cam_thr: float = 0.3,
                       bg_sal_thr: float = 0.06,
                       overlap: str = 'ignore') -> np.ndarray:
    """CIAN seed rule (cian.md 2): one confident class on salient pixels.

    Candidate classes are those with CAM > ``cam_thr``; background needs
    saliency < ``bg_sal_thr``. One candidate on a salient pixel: that class;
    none on a non-salient pixel: background; a candidate on a non-salient
    pixel or none on a salient one: ignore. Several candidates: ignore
    (``overlap='ignore'``) or the strongest (``'argmax'``).

    Args:
        cam (np.ndarray): K x H x W normalised CAMs.
        saliency (np.ndarray): H x W saliency in [0, 1].

    Returns:
        np.ndarray: H x W uint8 label map in {0, 1..K, 255}.
    """
    if overlap not in ('ignore', 'argmax'):
        raise ValueError(f"overlap must be 'ignore' or 'argmax', got "
                         f'{overlap!r}')
    n_fg = (cam > cam_thr).sum(axis=0)
    bg = saliency < bg_sal_thr
    label = np.full(saliency.shape, IGNORE_INDEX, dtype=np.uint8)
    label[(n_fg == 0) & bg] = 0
    strongest = (_strongest_class(cam) + 1).astype(np.uint8)
    single = (n_fg == 1) & ~bg
    label[single] = strongest[single]
    if overlap == 'argmax':
        multi = (n_fg >= 2) & ~bg
        label[multi] = strongest[multi]
    return label
