"""Label maps on disk: VOC-palette PNGs written atomically."""
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator

import numpy as np
from mmseg.datasets import PascalVOCDataset
from PIL import Image

VOC_PALETTE = np.array(PascalVOCDataset.METAINFO['palette'], dtype=np.uint8)


def color_palette(num_colors: int = 256) -> np.ndarray:
    """The VOC colour map with ``num_colors`` entries (entry 255 is white).

    Returns:
        np.ndarray: ``num_colors x 3`` uint8 palette; entries 0..20 are VOC's.
    """
    palette = np.zeros((num_colors, 3), dtype=np.uint8)
    for i in range(num_colors):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    if num_colors > 255:
        palette[255] = (255, 255, 255)
    return palette


@contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it over ``path`` when
    the block ends without an error, remove it otherwise, so ``path`` is
    either absent, the old file or the complete new one (POSIX rename).

    Args:
        path (str): Destination file; its folder is created.
        mode (str): ``'wb'`` or ``'w'``.

    Yields:
        file object: The temporary file.
    """
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=out_dir, prefix='.tmp_', suffix=osp.splitext(path)[1])
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(img: Image.Image, path: str) -> None:
    """Save a PIL image so that ``path`` is either absent or complete.

    The image goes to a temporary file in the same directory which is then
    renamed over ``path`` (an atomic operation on POSIX file systems).
    """
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=out_dir, prefix='.tmp_', suffix=osp.splitext(path)[1])
    try:
        with os.fdopen(fd, 'wb') as f:
            img.save(f, format='PNG')
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def save_label_png(label: np.ndarray, path: str) -> None:
    """Write an ``H x W`` label map (0..254 classes, 255 ignore) as a
    VOC-palette PNG, atomically."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'{path}: label map must be H x W, got shape '
                         f'{label.shape}')
    if label.min(initial=0) < 0 or label.max(initial=0) > 255:
        raise ValueError(f'{path}: label values must lie in 0..255, got '
                         f'[{label.min()}, {label.max()}]')
    img = Image.fromarray(label.astype(np.uint8), mode='P')
    img.putpalette(color_palette().flatten().tolist())
    atomic_save(img, path)


def load_label_png(path: str) -> np.ndarray:
    """Read a label PNG (palette or grey) as an ``H x W`` uint8 array."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map not found: {path}')
    with Image.open(path) as img:
        return np.array(img, dtype=np.uint8)
