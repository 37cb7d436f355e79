"""Photometric and geometric augmentation that mmcv/mmseg lack:
RandomResizedCrop (the Inception crop) and ColorJitter with torchvision's
semantics, as the WS-FCN / SSSS training pipeline uses them (wsfcn.md 1.4);
RandomRescale and PILGaussianBlur of CoSA's shared view geometry (cosa.md
2.1). Images are BGR, as ``LoadImageFromFile`` gives them."""
import math
from numbers import Number
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmcv.image.geometric import cv2_interp_codes
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.datasets.transforms import Resize
from mmseg.registry import TRANSFORMS
from PIL import Image, ImageFilter

Range = Tuple[float, float]


def _check_range(name: str, value: Sequence[float], low: float,
                 high: float) -> Range:
    """``value`` as a pair ``(a, b)`` with ``low <= a <= b <= high``
    (``low`` exclusive when it is 0), else a ValueError naming ``name``."""
    if not (isinstance(value, Sequence) and len(value) == 2 and all(
            isinstance(v, Number) and not isinstance(v, bool)
            for v in value)):
        raise ValueError(f'{name} must be a pair of numbers (min, max), '
                         f'got {value!r}')
    a, b = float(value[0]), float(value[1])
    low_ok = a > low if low == 0 else a >= low
    if not (low_ok and a <= b <= high and math.isfinite(b)):
        low_op = '<' if low == 0 else '<='
        raise ValueError(f'{name} must satisfy {low} {low_op} min <= max <= '
                         f'{high} (finite), got {value!r}')
    return a, b


def adjust_hue_bgr(img: np.ndarray, hue_factor: float) -> np.ndarray:
    """Rotate the hue of a BGR image by ``hue_factor`` turns (torchvision's
    ``adjust_hue``: ``h = (h + hue_factor) mod 1`` in HSV).

    ``mmcv.adjust_hue`` is not used: under NumPy 2 it raises OverflowError
    for every negative factor (``np.uint8(hue_factor * 255)``), and it
    rounds hue, saturation and value to 8 bits on the way. This works in
    float32 HSV (hue in degrees) and rounds only the result.

    Args:
        img (np.ndarray): ``H x W x 3`` BGR image, uint8 (0..255) or float
            (0..255).
        hue_factor (float): Shift in turns, in [-0.5, 0.5].

    Returns:
        np.ndarray: The image with the hue rotated, same shape and dtype.
    """
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor must be in [-0.5, 0.5], got '
                         f'{hue_factor}')
    hsv = cv2.cvtColor(img.astype(np.float32) / 255., cv2.COLOR_BGR2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + hue_factor * 360., 360.)
    out = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255., 0, 255)
    if np.issubdtype(img.dtype, np.integer):
        out = np.rint(out)
    return out.astype(img.dtype)


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random part of the image and resize it to ``scale``
    (torchvision's ``RandomResizedCrop``, the Inception crop).

    The crop box is drawn as torchvision draws it: its area is a fraction
    ``U(crop_ratio_range)`` of the image area and its aspect ratio (width /
    height) is log-uniform in ``aspect_ratio_range``; a box that does not
    fit in the image is drawn again, at most ``max_attempts`` times in all.
    If none fits, the fallback is the central box, as large as the image
    allows, whose aspect ratio is the image's clamped to
    ``aspect_ratio_range`` (the area range is then ignored). The box always
    lies inside the image: nothing is ever padded. With WS-FCN's
    ``crop_ratio_range=(0.9, 1.0)`` the fallback is common, as in
    torchvision: about 37% of 500 x 375 images take the whole image, and an
    image whose ratio lies outside ``aspect_ratio_range`` (500 x 333)
    always takes its central 4:3 box.

    The image is resized with ``interpolation``. Every map named in
    ``seg_fields`` (pseudo labels, saliency, masks) is cut with the same box
    and resized with nearest interpolation, so it stays aligned with the
    image; each must have the image's height and width.

    Required Keys:

    - img
    - seg_fields (optional) and the maps it names

    Modified Keys:

    - img
    - img_shape
    - the maps named in seg_fields

    Args:
        scale (int | tuple[int, int]): Output size; an int gives a square
            ``scale x scale``, a tuple is ``(w, h)`` as in mmcv's Resize.
        crop_ratio_range (tuple[float, float]): Range of the crop area as a
            fraction of the image area, ``0 < min <= max <= 1``. Defaults
            to (0.08, 1.0).
        aspect_ratio_range (tuple[float, float]): Range of the crop aspect
            ratio (width / height), sampled log-uniformly, ``0 < min <=
            max``. Defaults to (3/4, 4/3).
        max_attempts (int): Draws before the central-crop fallback, >= 0.
            Defaults to 10.
        interpolation (str): Image interpolation of ``mmcv.imresize``:
            'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos'. Defaults
            to 'bicubic'.

    Example:
        WS-FCN (wsfcn.md 1.4): ``dict(type='RandomResizedCrop', scale=321,
        crop_ratio_range=(0.9, 1.0))``.
    """

    def __init__(self,
                 scale: Union[int, Tuple[int, int]],
                 crop_ratio_range: Range = (0.08, 1.0),
                 aspect_ratio_range: Range = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bicubic') -> None:
        if isinstance(scale, int) and not isinstance(scale, bool):
            scale = (scale, scale)
        if not (isinstance(scale, Sequence) and len(scale) == 2 and all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0
                for s in scale)):
            raise ValueError('scale must be a positive int or a (w, h) pair '
                             f'of positive ints, got {scale!r}')
        if not (isinstance(max_attempts, int)
                and not isinstance(max_attempts, bool) and max_attempts >= 0):
            raise ValueError('max_attempts must be an int >= 0, got '
                             f'{max_attempts!r}')
        if interpolation not in cv2_interp_codes:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(cv2_interp_codes)}, got '
                             f'{interpolation!r}')
        self.scale = (int(scale[0]), int(scale[1]))
        self.crop_ratio_range = _check_range('crop_ratio_range',
                                             crop_ratio_range, 0., 1.)
        self.aspect_ratio_range = _check_range('aspect_ratio_range',
                                               aspect_ratio_range, 0.,
                                               math.inf)
        self.max_attempts = max_attempts
        self.interpolation = interpolation

    @cache_randomness
    def sample_crop_box(self, img_h: int,
                        img_w: int) -> Tuple[int, int, int, int]:
        """Draw a crop box for an ``img_h x img_w`` image.

        Args:
            img_h (int): Image height.
            img_w (int): Image width.

        Returns:
            tuple[int, int, int, int]: ``(top, left, crop_h, crop_w)``, a box
            inside the image.
        """
        area = img_h * img_w
        log_ratio = (math.log(self.aspect_ratio_range[0]),
                     math.log(self.aspect_ratio_range[1]))
        for _ in range(self.max_attempts):
            target_area = area * np.random.uniform(*self.crop_ratio_range)
            aspect_ratio = math.exp(np.random.uniform(*log_ratio))
            crop_w = int(round(math.sqrt(target_area * aspect_ratio)))
            crop_h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < crop_w <= img_w and 0 < crop_h <= img_h:
                top = int(np.random.randint(0, img_h - crop_h + 1))
                left = int(np.random.randint(0, img_w - crop_w + 1))
                return top, left, crop_h, crop_w
        return self.fallback_crop_box(img_h, img_w)

    def fallback_crop_box(self, img_h: int,
                          img_w: int) -> Tuple[int, int, int, int]:
        """The central box, as large as fits, whose aspect ratio is the
        image's clamped to ``aspect_ratio_range`` (torchvision's fallback).

        Args:
            img_h (int): Image height.
            img_w (int): Image width.

        Returns:
            tuple[int, int, int, int]: ``(top, left, crop_h, crop_w)``.
        """
        min_ratio, max_ratio = self.aspect_ratio_range
        in_ratio = img_w / img_h
        crop_h, crop_w = img_h, img_w
        if in_ratio < min_ratio:
            crop_h = min(img_h, max(1, int(round(img_w / min_ratio))))
        elif in_ratio > max_ratio:
            crop_w = min(img_w, max(1, int(round(img_h * max_ratio))))
        return (img_h - crop_h) // 2, (img_w - crop_w) // 2, crop_h, crop_w

    def transform(self, results: dict) -> dict:
        """Crop and resize the image and the maps in ``seg_fields``.

        Args:
            results (dict): Result dict with ``img``.

        Returns:
            dict: The result dict, ``img`` and the maps ``scale``-sized.

        Raises:
            ValueError: A map in ``seg_fields`` is not the image's size.
        """
        img = results['img']
        img_h, img_w = img.shape[:2]
        for key in results.get('seg_fields', []):
            seg = results.get(key)
            if seg is not None and seg.shape[:2] != (img_h, img_w):
                raise ValueError(
                    f'{results.get("img_path")}: {key} is '
                    f'{seg.shape[0]}x{seg.shape[1]} (HxW) but the image is '
                    f'{img_h}x{img_w}; RandomResizedCrop cannot keep them '
                    'aligned')
        top, left, crop_h, crop_w = self.sample_crop_box(img_h, img_w)
        box = (slice(top, top + crop_h), slice(left, left + crop_w))
        results['img'] = mmcv.imresize(
            img[box],
            self.scale,
            interpolation=self.interpolation,
            backend='cv2')
        for key in results.get('seg_fields', []):
            if results.get(key) is not None:
                results[key] = mmcv.imresize(
                    results[key][box],
                    self.scale,
                    interpolation='nearest',
                    backend='cv2')
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'crop_ratio_range={self.crop_ratio_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, '
                f'max_attempts={self.max_attempts}, '
                f'interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Randomly change brightness, contrast, saturation and hue
    (torchvision's ``ColorJitter``), always (p = 1).

    Each factor is drawn uniformly: brightness, contrast and saturation from
    ``[max(0, 1 - v), 1 + v]``, hue from ``[-hue, hue]``; a pair ``(min,
    max)`` gives the range directly, as in torchvision. The four
    adjustments are applied in a random order; one whose range is the
    identity (0, the default) is skipped, so the all-zero transform returns
    the image unchanged. Brightness, contrast and saturation are mmcv's
    ``adjust_brightness`` (blend with black), ``adjust_contrast`` (blend
    with the mean grey level) and ``adjust_color`` (blend with the grey
    image), cv2 backend, which read BGR; hue is :func:`adjust_hue_bgr`.

    Required Keys:

    - img (``H x W x 3`` BGR)

    Modified Keys:

    - img

    Args:
        brightness (float | tuple[float, float]): Brightness jitter,
            >= 0 (or a pair ``0 <= min <= max``). Defaults to 0.
        contrast (float | tuple[float, float]): Contrast jitter, as
            brightness. Defaults to 0.
        saturation (float | tuple[float, float]): Saturation jitter, as
            brightness. Defaults to 0.
        hue (float | tuple[float, float]): Hue jitter in turns, in
            [0, 0.5] (or a pair ``-0.5 <= min <= max <= 0.5``). Defaults to 0.

    Example:
        WS-FCN (wsfcn.md 1.4): ``dict(type='ColorJitter', brightness=0.3,
        contrast=0.3, saturation=0.3, hue=0.1)``.
    """

    #: Application order indices: 0 brightness, 1 contrast, 2 saturation,
    #: 3 hue.
    NAMES = ('brightness', 'contrast', 'saturation', 'hue')

    def __init__(self,
                 brightness: Union[float, Range] = 0.,
                 contrast: Union[float, Range] = 0.,
                 saturation: Union[float, Range] = 0.,
                 hue: Union[float, Range] = 0.) -> None:
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.ranges: List[Optional[Range]] = [
            self._factor_range(name, value) for name, value in zip(
                self.NAMES, (brightness, contrast, saturation, hue))
        ]

    @staticmethod
    def _factor_range(name: str, value: Union[float,
                                              Range]) -> Optional[Range]:
        """The sampling range of one factor, None when it is the identity.

        Raises:
            ValueError: ``value`` out of its domain; names ``name``.
        """
        center, low, high = (0., -0.5, 0.5) if name == 'hue' else \
            (1., 0., math.inf)
        if isinstance(value, Number) and not isinstance(value, bool):
            limit = 0.5 if name == 'hue' else math.inf
            if not (0 <= value <= limit and math.isfinite(value)):
                raise ValueError(f'{name} must be a number in [0, {limit}], '
                                 f'got {value!r}')
            value = (max(low, center - value), center + value)
        elif not (isinstance(value, Sequence) and len(value) == 2 and all(
                isinstance(v, Number) and not isinstance(v, bool)
                for v in value)):
            raise ValueError(f'{name} must be a number or a (min, max) pair, '
                             f'got {value!r}')
        elif not (low <= value[0] <= value[1] <= high
                  and math.isfinite(value[1])):
            raise ValueError(f'{name} range must satisfy {low} <= min <= max '
                             f'<= {high}, got {value!r}')
        if value[0] == value[1] == center:
            return None
        return float(value[0]), float(value[1])

    @cache_randomness
    def sample_params(self) -> Tuple[List[int], List[Optional[float]]]:
        """Draw the application order and the four factors.

        Returns:
            tuple[list[int], list[float | None]]: A permutation of 0..3
            (indices into :attr:`NAMES`) and the factors in :attr:`NAMES`
            order, None for a skipped adjustment.
        """
        factors = [
            None if rng is None else float(np.random.uniform(*rng))
            for rng in self.ranges
        ]
        order = [int(i) for i in np.random.permutation(4)]
        return order, factors

    def transform(self, results: dict) -> dict:
        """Jitter ``results['img']``.

        Args:
            results (dict): Result dict with a BGR ``img``.

        Returns:
            dict: The result dict with the jittered image.

        Raises:
            ValueError: ``img`` is not ``H x W x 3``.
        """
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{results.get("img_path")}: ColorJitter needs '
                             f'an H x W x 3 BGR image, got shape {img.shape}')
        order, factors = self.sample_params()
        for index in order:
            factor = factors[index]
            if factor is None:
                continue
            if index == 0:
                img = mmcv.adjust_brightness(img, factor, backend='cv2')
            elif index == 1:
                img = mmcv.adjust_contrast(img, factor, backend='cv2')
            elif index == 2:
                img = mmcv.adjust_color(img, factor, backend='cv2')
            else:
                img = adjust_hue_bgr(img, factor)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness={self.brightness!r}, '
                f'contrast={self.contrast!r}, '
                f'saturation={self.saturation!r}, hue={self.hue!r})')


@TRANSFORMS.register_module()
class RandomRescale(BaseTransform):
    """Rescale the image by a random ratio of its own size (cosa.md 2.1).

    One ratio ``r ~ U(ratio_range)`` is drawn per call and applied to both
    sides: an ``h x w`` image becomes ``max(1, int(h r + 0.5)) x max(1,
    int(w r + 0.5))``. mmcv's ``RandomResize`` cannot express this (its
    ratio multiplies a fixed target ``scale``, not the image's size), so the
    ratio is drawn here and the resizing is mmseg's ``Resize``: the image with
    ``interpolation``, every map in ``seg_fields`` with nearest.

    Required Keys:

    - img
    - seg_fields (optional) and the maps it names

    Modified Keys:

    - img
    - img_shape
    - the maps named in seg_fields

    Added Keys:

    - scale
    - scale_factor
    - keep_ratio

    Args:
        ratio_range (tuple[float, float]): Range of ``r``, ``0 < min <=
            max``. Defaults to (0.5, 2.0).
        interpolation (str): Image interpolation of ``mmcv.imresize``:
            'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos'. Defaults
            to 'bilinear'.

    Example:
        CoSA (cosa.md 5): ``dict(type='RandomRescale', ratio_range=(0.5,
        2.0))``.
    """

    def __init__(self,
                 ratio_range: Range = (0.5, 2.0),
                 interpolation: str = 'bilinear') -> None:
        if interpolation not in cv2_interp_codes:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(cv2_interp_codes)}, got '
                             f'{interpolation!r}')
        self.ratio_range = _check_range('ratio_range', ratio_range, 0.,
                                        math.inf)
        self.interpolation = interpolation
        self.resize = Resize(scale=(1, 1), interpolation=interpolation)

    @cache_randomness
    def sample_ratio(self) -> float:
        """Draw the rescale ratio ``r ~ U(ratio_range)``."""
        return float(np.random.uniform(*self.ratio_range))

    def transform(self, results: dict) -> dict:
        """Rescale the image and the maps in ``seg_fields``.

        Args:
            results (dict): Result dict with ``img``.

        Returns:
            dict: The result dict, image and maps rescaled.
        """
        ratio = self.sample_ratio()
        img_h, img_w = results['img'].shape[:2]
        self.resize.scale = (max(1, int(img_w * ratio + 0.5)),
                             max(1, int(img_h * ratio + 0.5)))
        return self.resize(results)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio_range='
                f'{self.ratio_range}, interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class PILGaussianBlur(BaseTransform):
    """Blur the image with PIL's ``ImageFilter.GaussianBlur`` with
    probability ``prob``, the radius (the Gaussian's standard deviation in
    pixels) drawn from ``U(radius)`` (cosa.md 2.1; CoSA's code blurs with
    PIL). Channels are blurred independently, so BGR order is kept.

    Required Keys:

    - img (``H x W x 3`` uint8)

    Modified Keys:

    - img

    Args:
        prob (float): Probability of blurring, in [0, 1]. Defaults to 0.5.
        radius (tuple[float, float]): Range of the radius in pixels, ``0 <
            min <= max``. Defaults to (0.1, 2.0).
    """

    def __init__(self,
                 prob: float = 0.5,
                 radius: Range = (0.1, 2.0)) -> None:
        if not (isinstance(prob, Number) and not isinstance(prob, bool)
                and 0 <= prob <= 1):
            raise ValueError(f'prob must be a number in [0, 1], got '
                             f'{prob!r}')
        self.prob = float(prob)
        self.radius = _check_range('radius', radius, 0., math.inf)

    @cache_randomness
    def sample_radius(self) -> Optional[float]:
        """Draw whether to blur and the radius.

        Returns:
            float | None: The radius in pixels, None for no blur.
        """
        if np.random.rand() >= self.prob:
            return None
        return float(np.random.uniform(*self.radius))

    def transform(self, results: dict) -> dict:
        """Blur ``results['img']`` (or leave it as it is).

        Args:
            results (dict): Result dict with a BGR uint8 ``img``.

        Returns:
            dict: The result dict.

        Raises:
            ValueError: ``img`` is not an ``H x W x 3`` uint8 image.
        """
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'{results.get("img_path")}: PILGaussianBlur '
                             'needs an H x W x 3 uint8 image, got shape '
                             f'{img.shape}, dtype {img.dtype}')
        radius = self.sample_radius()
        if radius is not None:
            blurred = Image.fromarray(img).filter(
                ImageFilter.GaussianBlur(radius))
            results['img'] = np.array(blurred)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'radius={self.radius})')
