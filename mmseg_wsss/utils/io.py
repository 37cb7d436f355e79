"""Files on disk: one reader per file kind, one atomic writer.

Readers go through mmengine ``fileio`` (``backend_args`` as in mmseg's
datasets and transforms) and name the file in every error.
"""
import io
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator, Optional

import mmcv
import mmengine
import numpy as np
from mmengine import fileio
from mmseg.datasets import PascalVOCDataset
from PIL import Image, UnidentifiedImageError

VOC_PALETTE = np.array(PascalVOCDataset.METAINFO['palette'], dtype=np.uint8)
WIDE_LABEL_MODES = ('I;16', 'I;16B', 'I;16L', 'I')
LABEL_MODES = ('P', 'L')
SALIENCY_SCALES = {'L': 255, 'I;16': 65535, 'RGB': 255}


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


def read_bytes(path: str,
               what: str,
               backend_args: Optional[dict] = None) -> bytes:
    """The bytes of a file.

    Raises:
        FileNotFoundError: ``path`` does not exist (named with ``what``).
    """
    try:
        return fileio.get(path, backend_args=backend_args)
    except FileNotFoundError as e:
        raise FileNotFoundError(f'{what} not found: {path}') from e


def read_id_list(path: str, backend_args: Optional[dict] = None) -> list:
    """The non-empty lines of an id list (split file), stripped.

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file lists no id.
    """
    if not fileio.exists(path, backend_args=backend_args):
        raise FileNotFoundError(f'id list not found: {path}')
    ids = [
        line.strip()
        for line in mmengine.list_from_file(path, backend_args=backend_args)
        if line.strip()
    ]
    if not ids:
        raise ValueError(f'id list {path} lists no image id')
    return ids


def read_image(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read an image as stored, ignoring any EXIF orientation (as the VOC
    tools and the masks drawn on the stored pixels do).

    Returns:
        np.ndarray: ``H x W x 3`` uint8 RGB.

    Raises:
        FileNotFoundError: No such file.
        OSError: The file is not a decodable image.
    """
    # mmcv converts to RGB only for flag='color': decode BGR, then convert
    img = mmcv.imfrombytes(
        read_bytes(path, 'image', backend_args),
        flag='color_ignore_orientation')
    if img is None:
        raise OSError(f'image {path} could not be decoded')
    return mmcv.bgr2rgb(img)


def open_pil(path: str,
             what: str,
             backend_args: Optional[dict] = None) -> Image.Image:
    """A decoded PIL image of the file (mode as stored).

    Raises:
        FileNotFoundError: No such file.
        OSError: The file is not a decodable image.
    """
    data = read_bytes(path, what, backend_args)
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError) as e:
        raise OSError(f'{what} {path} could not be read: {e}') from e
    return img


def read_label_map(path: str,
                   what: str = 'label map',
                   backend_args: Optional[dict] = None) -> np.ndarray:
    """Read a mask or pseudo label: the palette indices of a palette PNG,
    the values of a grey one (8-bit, or 16-bit with values up to 255, as
    mmseg's ``LoadAnnotations`` reads them).

    Args:
        path (str): Image file.
        what (str): What the file holds, for error messages.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        np.ndarray: ``H x W`` uint8.

    Raises:
        FileNotFoundError: No such file.
        OSError: Not a decodable image.
        ValueError: Not a palette or grey image, or a 16-bit value above
            255 (message names the file and its PIL mode or values).
    """
    img = open_pil(path, what, backend_args)
    if img.mode in WIDE_LABEL_MODES:
        values = np.asarray(img)
        if values.max(initial=0) > 255 or values.min(initial=0) < 0:
            raise ValueError(
                f'{what} {path} ({img.mode}) holds values outside 0..255 '
                f'([{values.min()}, {values.max()}]); labels are class '
                'indices or 255 (ignore)')
        return values.astype(np.uint8)
    if img.mode not in LABEL_MODES:
        raise ValueError(f'{what} {path} has PIL mode {img.mode!r}; expected '
                         'a palette (P) or grey (L, I;16) image')
    return np.asarray(img, dtype=np.uint8)


def read_saliency(path: str,
                  backend_args: Optional[dict] = None) -> np.ndarray:
    """Read a saliency map as floats in [0, 1].

    An 8-bit grey PNG is divided by 255, a 16-bit grey one by 65535. An RGB
    file is taken only if its three channels are equal (a grey map saved as
    RGB), and divided by 255.

    Returns:
        np.ndarray: ``H x W`` float32 in [0, 1].

    Raises:
        FileNotFoundError: No such file.
        OSError: Not a decodable image.
        ValueError: Another mode (palette, 32-bit, with alpha...) or an RGB
            file with unequal channels; the message names file and mode.
    """
    img = open_pil(path, 'saliency map', backend_args)
    if img.mode not in SALIENCY_SCALES:
        raise ValueError(
            f'saliency map {path} has PIL mode {img.mode!r}; expected 8-bit '
            "grey ('L'), 16-bit grey ('I;16') or grey saved as 'RGB'")
    sal = np.asarray(img)
    if sal.ndim == 3:
        if not (sal == sal[..., :1]).all():
            raise ValueError(f'saliency map {path} is an RGB image whose '
                             'channels differ; expected a grey map')
        sal = sal[..., 0]
    return sal.astype(np.float32) / SALIENCY_SCALES[img.mode]


def read_cam(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read saved CAMs (``np.save`` of a ``K x H x W`` array, as
    ``write_pseudo_labels(save_cams=True)`` writes them: float16, one
    normalised map per foreground class).

    Returns:
        np.ndarray: ``K x H x W`` float32.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a ``.npy`` array, or not a non-empty 3-d float
            array (the message names the file and what it holds).
    """
    data = read_bytes(path, 'CAM file', backend_args)
    try:
        cam = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        raise ValueError(f'CAM file {path} is not a .npy array: {e}') from e
    if (not isinstance(cam, np.ndarray) or cam.ndim != 3 or cam.shape[0] == 0
            or not np.issubdtype(cam.dtype, np.floating)):
        raise ValueError(
            f'CAM file {path} holds {getattr(cam, "dtype", type(cam))} '
            f'{getattr(cam, "shape", "")}; expected a K x H x W float array '
            'with K >= 1')
    return cam.astype(np.float32)


@contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` once the block ends, so
    that ``path`` is either absent, its old version or complete.

    The temporary file lies in the folder of ``path`` (created if needed)
    and is renamed over it (atomic on POSIX file systems); it is removed if
    the block raises. Example: ``with atomic_write(p) as f: np.save(f, a)``.

    Args:
        path (str): Destination file.
        mode (str): ``'wb'`` (binary) or ``'w'`` (text).

    Yields:
        file object: The open temporary file.
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
    """Save a PIL image as PNG through :func:`atomic_write`."""
    with atomic_write(path) as f:
        img.save(f, format='PNG')


def save_label_png(label: np.ndarray, path: str) -> None:
    """Write an ``H x W`` label map (0..254 classes, 255 ignore) as a
    VOC-palette PNG, atomically.

    Raises:
        ValueError: Not ``H x W`` or values outside 0..255.
    """
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

