"""CoSA's weak and strong views of one image (cosa.md 2.1): the strong view
is one photometric op at a random level applied to the weak image, so the
two share every geometric transform drawn before them."""
from typing import Callable, Dict, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

#: Highest magnitude level: the mappings below are in tenths of it.
MAX_LEVEL = 10


def enhance_factor(level: int) -> float:
    """Enhancement factor of Color / Contrast / Brightness / Sharpness at
    ``level``: ``0.1 + 1.8 * level / 10`` (1 = unchanged; levels 1..9 give
    0.28..1.72)."""
    return 0.1 + 1.8 * level / MAX_LEVEL


def solarize_threshold(level: int) -> int:
    """Solarize threshold at ``level``: ``min(floor(256 * level / 10),
    255)``; values ``>=`` it are inverted."""
    return min(256 * level // MAX_LEVEL, 255)


def posterize_bits(level: int) -> int:
    """Bits kept per channel by Posterize at ``level``: ``4 - floor(4 *
    level / 10)`` (levels 1..9 keep 4, 4, 3, 3, 2, 2, 2, 1, 1)."""
    return 4 - 4 * level // MAX_LEVEL


#: The strong ops (cosa.md 2.1), each ``(BGR uint8 image, level) -> image``,
#: on mmcv's implementations (cv2 backend for the blends), whose parameters
#: follow PIL's ``ImageOps`` / ``ImageEnhance`` (1 = unchanged factor).
STRONG_OPS: Dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    'Identity':
    lambda img, level: img.copy(),
    'AutoContrast':
    lambda img, level: mmcv.auto_contrast(img),
    'Equalize':
    lambda img, level: mmcv.imequalize(img),
    'Solarize':
    lambda img, level: mmcv.solarize(img, thr=solarize_threshold(level)),
    'Color':
    lambda img, level: mmcv.adjust_color(
        img, alpha=enhance_factor(level), backend='cv2'),
    'Contrast':
    lambda img, level: mmcv.adjust_contrast(
        img, enhance_factor(level), backend='cv2'),
    'Brightness':
    lambda img, level: mmcv.adjust_brightness(
        img, enhance_factor(level), backend='cv2'),
    'Sharpness':
    lambda img, level: mmcv.adjust_sharpness(img, enhance_factor(level)),
    'Posterize':
    lambda img, level: mmcv.posterize(img, posterize_bits(level)),
}


def strong_op(img: np.ndarray, op: str, level: int) -> np.ndarray:
    """Apply the strong op ``op`` at magnitude ``level`` to ``img``.

    Args:
        img (np.ndarray): ``H x W x 3`` BGR uint8 image.
        op (str): A key of :data:`STRONG_OPS`.
        level (int): Magnitude level in ``0..10``.

    Returns:
        np.ndarray: The new ``H x W x 3`` uint8 image (``img`` is not
        modified).

    Raises:
        ValueError: Unknown ``op`` or ``level`` outside ``0..10``.
    """
    if op not in STRONG_OPS:
        raise ValueError(f'unknown strong op {op!r}, expected one of '
                         f'{list(STRONG_OPS)}')
    if isinstance(level, bool) or not (isinstance(level, (int, np.integer))
                                       and 0 <= level <= MAX_LEVEL):
        raise ValueError(f'level must be an int in 0..{MAX_LEVEL}, got '
                         f'{level!r}')
    return STRONG_OPS[op](img, int(level)).astype(np.uint8)


@TRANSFORMS.register_module()
class WeakStrongViews(BaseTransform):
    """Stack the weak view and a strong view of the image along channels
    (cosa.md 2.1).

    The weak view is the image as it comes (after the shared rescale, flip,
    crop and blur); the strong view is exactly one op drawn uniformly from
    ``strong_ops`` at a level drawn uniformly from the integers of
    ``magnitude``, applied to the weak image. Nothing geometric happens
    here, so pixel ``(i, j)`` of both views shows the same point. The data
    preprocessor normalises (and BGR->RGB flips) each 3-channel view.

    Ops and levels (``L``): Identity; AutoContrast, Equalize (no level);
    Solarize (threshold ``min(floor(256 L / 10), 255)``); Color, Contrast,
    Brightness, Sharpness (factor ``0.1 + 1.8 L / 10``); Posterize (keeps
    ``4 - floor(4 L / 10)`` bits). See :data:`STRONG_OPS`.

    Required Keys:

    - img (``H x W x 3`` BGR uint8)

    Modified Keys:

    - img (``H x W x 6``: weak BGR, then strong BGR)

    Added Keys:

    - strong_op (str), strong_level (int): the draw, for inspection

    Args:
        strong_ops (Sequence[str]): Ops to draw from, keys of
            :data:`STRONG_OPS` (e.g. ``['Identity']`` for two equal views).
            Defaults to all nine.
        magnitude (tuple[int, int]): Inclusive level range ``(min, max)``,
            ``0 <= min <= max <= 10``. Defaults to (1, 9).

    Example:
        CoSA (cosa.md 5): ``dict(type='WeakStrongViews')``.
    """

    def __init__(self,
                 strong_ops: Sequence[str] = tuple(STRONG_OPS),
                 magnitude: Tuple[int, int] = (1, 9)) -> None:
        if isinstance(strong_ops, str) or not (isinstance(
                strong_ops, Sequence) and len(strong_ops) > 0):
            raise ValueError('strong_ops must be a non-empty sequence of op '
                             f'names, got {strong_ops!r}')
        unknown = [op for op in strong_ops if op not in STRONG_OPS]
        if unknown:
            raise ValueError(f'unknown strong ops {unknown}, expected names '
                             f'from {list(STRONG_OPS)}')
        if not (isinstance(magnitude, Sequence) and len(magnitude) == 2
                and all(
                    isinstance(m, int) and not isinstance(m, bool)
                    for m in magnitude)
                and 0 <= magnitude[0] <= magnitude[1] <= MAX_LEVEL):
            raise ValueError('magnitude must be a pair of ints (min, max) '
                             f'with 0 <= min <= max <= {MAX_LEVEL}, got '
                             f'{magnitude!r}')
        self.strong_ops = list(strong_ops)
        self.magnitude = (magnitude[0], magnitude[1])

    @cache_randomness
    def sample_op(self) -> Tuple[str, int]:
        """Draw the op and its level.

        Returns:
            tuple[str, int]: Op name and level.
        """
        op = self.strong_ops[np.random.randint(len(self.strong_ops))]
        level = int(
            np.random.randint(self.magnitude[0], self.magnitude[1] + 1))
        return op, level

    def transform(self, results: dict) -> dict:
        """Replace ``img`` by the weak and strong views stacked.

        Args:
            results (dict): Result dict with a BGR uint8 ``img``.

        Returns:
            dict: The result dict with the ``H x W x 6`` image.

        Raises:
            ValueError: ``img`` is not an ``H x W x 3`` uint8 image.
        """
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'{results.get("img_path")}: WeakStrongViews '
                             'needs an H x W x 3 uint8 image, got shape '
                             f'{img.shape}, dtype {img.dtype}')
        op, level = self.sample_op()
        results['img'] = np.concatenate([img, strong_op(img, op, level)],
                                        axis=2)
        results['strong_op'] = op
        results['strong_level'] = level
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(strong_ops={self.strong_ops}, '
                f'magnitude={self.magnitude})')
