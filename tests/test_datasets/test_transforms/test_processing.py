import math

import cv2
import mmcv
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmcv.transforms.utils import cache_random_params
from mmseg.registry import TRANSFORMS

from mmseg_wsss.datasets.transforms import (ColorJitter, RandomResizedCrop,
                                            adjust_hue_bgr)


def position_image(height: int, width: int) -> tuple:
    """A BGR image whose blue channel is the row and green the column of
    each pixel, and the row / column maps themselves (``height, width <=
    256``)."""
    rows, cols = np.mgrid[:height, :width]
    img = np.stack([rows, cols, np.full_like(rows, 128)], -1).astype(np.uint8)
    return img, rows.astype(np.uint8), cols.astype(np.float32)


def hue_degrees(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img.astype(np.float32) / 255.,
                        cv2.COLOR_BGR2HSV)[..., 0]


def hue_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed hue difference ``a - b`` in degrees, in [-180, 180)."""
    return np.mod(a - b + 180., 360.) - 180.


# --------------------------------------------------------------------------
# RandomResizedCrop


@pytest.mark.parametrize('img_hw,crop_ratio_range', [((375, 500), (0.9, 1.)),
                                                     ((256, 256),
                                                      (0.08, 1.))])
def test_crop_box_within_ranges(img_hw, crop_ratio_range):
    """Over many seeds the sampled box lies inside the image, its area
    fraction and aspect ratio are in the ranges up to the rounding of its
    sides, and the draws spread over the area range."""
    img_h, img_w = img_hw
    aspect = (3. / 4., 4. / 3.)
    t = RandomResizedCrop(64, crop_ratio_range, aspect)
    fractions = []
    for seed in range(300):
        np.random.seed(seed)
        top, left, crop_h, crop_w = t.sample_crop_box(img_h, img_w)
        assert 0 <= top and top + crop_h <= img_h
        assert 0 <= left and left + crop_w <= img_w
        if (crop_h, crop_w) == (img_h, img_w) and \
                t.fallback_crop_box(img_h, img_w) == (top, left, crop_h,
                                                      crop_w):
            continue  # no draw fitted (possible for the wide range)
        area = img_h * img_w
        # sides are rounded: |side - exact| <= 0.5
        area_tol = (0.5 * (crop_h + crop_w) + 0.25) / area
        fraction = crop_h * crop_w / area
        assert crop_ratio_range[0] - area_tol <= fraction
        assert fraction <= crop_ratio_range[1] + area_tol
        log_tol = 0.5 / (crop_w - 0.5) + 0.5 / (crop_h - 0.5)
        assert math.log(aspect[0]) - log_tol <= math.log(crop_w / crop_h)
        assert math.log(crop_w / crop_h) <= math.log(aspect[1]) + log_tol
        fractions.append(fraction)
    assert len(fractions) > 100
    span = crop_ratio_range[1] - crop_ratio_range[0]
    assert min(fractions) < crop_ratio_range[0] + 0.1 * span
    assert max(fractions) > crop_ratio_range[1] - 0.1 * span


@pytest.mark.parametrize('scale,out_hw', [(321, (321, 321)),
                                          ((96, 64), (64, 96))])
def test_output_size_is_scale(scale, out_hw):
    """An int is a square, a tuple is (w, h); image, every seg field and
    img_shape take that size, dtypes are kept."""
    img = np.random.RandomState(0).randint(0, 256, (375, 500, 3), np.uint8)
    label = np.random.RandomState(1).randint(0, 21, (375, 500), np.uint8)
    sal = np.random.RandomState(2).rand(375, 500).astype(np.float32)
    t = RandomResizedCrop(scale, crop_ratio_range=(0.9, 1.0))
    for seed in range(5):
        np.random.seed(seed)
        out = t(
            dict(
                img=img.copy(),
                img_shape=(375, 500),
                gt_seg_map=label.copy(),
                gt_saliency=sal.copy(),
                seg_fields=['gt_seg_map', 'gt_saliency']))
        assert out['img'].shape == out_hw + (3, )
        assert out['img'].dtype == np.uint8
        assert out['img_shape'] == out_hw
        assert out['gt_seg_map'].shape == out_hw
        assert out['gt_seg_map'].dtype == np.uint8
        assert out['gt_saliency'].shape == out_hw
        assert out['gt_saliency'].dtype == np.float32
        # nearest interpolation: no new label values, no blended saliency
        assert set(np.unique(out['gt_seg_map'])) <= set(np.unique(label))
        assert np.isin(out['gt_saliency'], sal).all()


@pytest.mark.parametrize('scale', [(128, 112), (64, 64)])
def test_seg_fields_stay_aligned(scale):
    """The image encodes each pixel's row (blue) and column (green); a label
    map holds the rows and a float saliency map the columns. After the
    transform, every output pixel's image colour and map values name the
    same source position (within the nearest-vs-bicubic sampling offset),
    and the top-left output pixel is the sampled box's corner."""
    img, rows, cols = position_image(200, 250)
    t = RandomResizedCrop(scale, crop_ratio_range=(0.25, 0.5))
    corners = []
    for seed in range(30):
        np.random.seed(seed)
        top, left, crop_h, crop_w = t.sample_crop_box(200, 250)
        np.random.seed(seed)
        out = t(
            dict(
                img=img.copy(),
                gt_seg_map=rows.copy(),
                gt_saliency=cols.copy(),
                seg_fields=['gt_seg_map', 'gt_saliency']))
        # half a source pixel per output pixel of nearest's offset, + 1
        tol = 0.5 * max(crop_w / scale[0], crop_h / scale[1]) + 1.
        out_rows = out['img'][..., 0].astype(np.float64)
        out_cols = out['img'][..., 1].astype(np.float64)
        assert np.abs(out_rows - out['gt_seg_map']).max() <= tol
        assert np.abs(out_cols - out['gt_saliency']).max() <= tol
        assert abs(int(out['gt_seg_map'][0, 0]) - top) <= tol
        assert abs(out['gt_saliency'][0, 0] - left) <= tol
        assert abs(int(out['gt_seg_map'][-1, -1]) - (top + crop_h - 1)) <= tol
        assert abs(out['gt_saliency'][-1, -1] - (left + crop_w - 1)) <= tol
        corners.append((top, left))
    # the boxes really moved around the image
    assert max(c[0] for c in corners) > 40
    assert max(c[1] for c in corners) > 40


@pytest.mark.parametrize('aspect_ratio_range,box', [
    ((10., 20.), (44, 0, 12, 120)),  # too wide: full width, h = w / 10
    ((0.05, 0.1), (0, 55, 100, 10)),  # too tall: full height, w = h * 0.1
])
def test_fallback_when_no_draw_fits(aspect_ratio_range, box):
    """No box of these ratios fits a 100 x 120 image at 90-100% of its area:
    every draw fails and the central box of the clamped ratio is taken."""
    t = RandomResizedCrop((32, 24), (0.9, 1.0), aspect_ratio_range)
    img, rows, cols = position_image(100, 120)
    for seed in range(10):
        np.random.seed(seed)
        assert t.sample_crop_box(100, 120) == box
        np.random.seed(seed)
        out = t(dict(img=img.copy(), gt_seg_map=rows.copy(),
                     seg_fields=['gt_seg_map']))
        top, left, crop_h, crop_w = box
        assert out['img'].shape == (24, 32, 3)
        # the crop lies inside the image (no padding): values are positions
        # of the box
        assert top <= out['gt_seg_map'].min()
        assert out['gt_seg_map'].max() <= top + crop_h - 1
        assert left - 1 <= out['img'][..., 1].min()
        assert out['img'][..., 1].max() <= left + crop_w


def test_fallback_whole_image_and_zero_attempts():
    """With the image's ratio inside the range the fallback is the whole
    image; max_attempts=0 always falls back."""
    t = RandomResizedCrop(16, (0.5, 0.6), (0.5, 2.), max_attempts=0)
    for seed in range(5):
        np.random.seed(seed)
        assert t.sample_crop_box(100, 120) == (0, 0, 100, 120)
    t = RandomResizedCrop(16, (0.5, 0.6), (2., 3.), max_attempts=0)
    assert t.sample_crop_box(100, 120) == (20, 0, 60, 120)


def test_crop_cache_randomness():
    """Under cache_random_params two calls use the same box."""
    img = np.random.RandomState(0).randint(0, 256, (60, 80, 3), np.uint8)
    t = RandomResizedCrop(32, (0.1, 0.5))
    with cache_random_params(t):
        first = t(dict(img=img.copy()))['img']
        second = t(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(first, second)


def test_crop_refuses_misaligned_map():
    t = RandomResizedCrop(32)
    with pytest.raises(ValueError, match=r'a\.jpg.*gt_seg_map.*50x60'):
        t(
            dict(
                img_path='a.jpg',
                img=np.zeros((60, 80, 3), np.uint8),
                gt_seg_map=np.zeros((50, 60), np.uint8),
                seg_fields=['gt_seg_map']))


@pytest.mark.parametrize('kwargs,match', [
    (dict(scale=0), 'scale.*0'),
    (dict(scale=(321, )), r'scale.*\(321,\)'),
    (dict(scale=(321, 0)), r'scale.*\(321, 0\)'),
    (dict(scale=321.), r'scale.*321\.0'),
    (dict(scale=321, crop_ratio_range=(0.9, 0.5)),
     r'crop_ratio_range.*\(0\.9, 0\.5\)'),
    (dict(scale=321, crop_ratio_range=(0., 1.)),
     r'crop_ratio_range.*\(0\.0, 1\.0\)'),
    (dict(scale=321, crop_ratio_range=(0.5, 1.5)),
     r'crop_ratio_range.*\(0\.5, 1\.5\)'),
    (dict(scale=321, aspect_ratio_range=(0., 1.)),
     r'aspect_ratio_range.*\(0\.0, 1\.0\)'),
    (dict(scale=321, aspect_ratio_range=(2., 1.)),
     r'aspect_ratio_range.*\(2\.0, 1\.0\)'),
    (dict(scale=321, aspect_ratio_range=(1., math.inf)),
     r'aspect_ratio_range.*inf'),
    (dict(scale=321, aspect_ratio_range=0.75), 'aspect_ratio_range.*0.75'),
    (dict(scale=321, max_attempts=-1), 'max_attempts.*-1'),
    (dict(scale=321, interpolation='cubic'), "interpolation.*'cubic'"),
])
def test_crop_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomResizedCrop(**kwargs)


def test_crop_repr_and_registry():
    t = TRANSFORMS.build(
        dict(type='RandomResizedCrop', scale=321, crop_ratio_range=(0.9, 1.)))
    assert isinstance(t, RandomResizedCrop)
    assert repr(t) == (
        'RandomResizedCrop(scale=(321, 321), crop_ratio_range=(0.9, 1.0), '
        f'aspect_ratio_range=(0.75, {4 / 3}), max_attempts=10, '
        "interpolation='bicubic')")


# --------------------------------------------------------------------------
# ColorJitter


def test_jitter_all_zero_is_identity():
    img = np.random.RandomState(0).randint(0, 256, (20, 30, 3), np.uint8)
    t = ColorJitter()
    assert t.ranges == [None, None, None, None]
    for seed in range(5):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, img)


def test_brightness_scales_grey():
    """brightness=0.3 on a mid-grey image multiplies every pixel by one
    factor in [0.7, 1.3]; over seeds the factor spans the range."""
    img = np.full((8, 8, 3), 100, np.uint8)
    t = ColorJitter(brightness=0.3)
    ratios = []
    for seed in range(200):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        assert (out == out[0, 0, 0]).all()  # one factor, grey stays grey
        ratio = out[0, 0, 0] / 100.
        # 8-bit result: 100 * f truncated
        assert 0.7 - 0.01 <= ratio <= 1.3
        ratios.append(ratio)
    assert min(ratios) < 0.75 and max(ratios) > 1.25


def test_factor_ranges_and_random_order():
    t = ColorJitter(brightness=0.3, contrast=1.5, saturation=0.3, hue=0.1)
    assert t.ranges == [(0.7, 1.3), (0., 2.5), (0.7, 1.3), (-0.1, 0.1)]
    orders = set()
    for seed in range(200):
        np.random.seed(seed)
        order, factors = t.sample_params()
        assert sorted(order) == [0, 1, 2, 3]
        orders.add(tuple(order))
        for factor, (low, high) in zip(factors, t.ranges):
            assert low <= factor <= high
    assert len(orders) == 24  # every order occurs
    # pairs give the range directly; an identity range is skipped
    t = ColorJitter(brightness=(0.5, 0.9), contrast=(1., 1.), hue=(0., 0.2))
    assert t.ranges == [(0.5, 0.9), None, None, (0., 0.2)]
    np.random.seed(0)
    _, factors = t.sample_params()
    assert factors[1] is None and factors[2] is None


def colourful_image() -> tuple:
    """Mid-tone colours (no clipping under +-30% jitter) and the mask of
    those with a chroma >= 60 (hue well defined at 8 bits)."""
    img = np.random.RandomState(0).randint(70, 151, (32, 32, 3)).astype(
        np.uint8)
    chroma = img.max(-1).astype(int) - img.min(-1)
    return img, chroma >= 60


def test_hue_zero_keeps_hue():
    """Brightness, contrast and saturation blend with black / grey: with
    hue=0 the hue moves only by 8-bit rounding."""
    img, mask = colourful_image()
    assert mask.sum() > 100
    t = ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.)
    hue = hue_degrees(img)
    changed = False
    for seed in range(100):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        changed |= not np.array_equal(out, img)
        assert np.abs(hue_difference(hue_degrees(out), hue))[mask].max() < 5
    assert changed


def test_hue_shift_is_the_sampled_factor():
    """hue=0.1 rotates every hue by the sampled factor (in turns, within
    +-36 degrees), in both directions."""
    img, mask = colourful_image()
    t = ColorJitter(hue=0.1)
    hue = hue_degrees(img)
    shifts = []
    for seed in range(30):
        np.random.seed(seed)
        _, factors = t.sample_params()
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        diff = hue_difference(hue_degrees(out), hue)[mask]
        assert np.abs(diff - factors[3] * 360.).max() < 1.5
        shifts.append(factors[3])
    assert min(shifts) < -0.05 and max(shifts) > 0.05


def test_adjust_hue_bgr_matches_mmcv():
    """Same result as mmcv.adjust_hue (BGR) where that works (positive
    factors), and negative factors, where it overflows, invert positive
    ones."""
    img, _ = colourful_image()
    for factor in (0., 0.1, 0.3, 0.5):
        ours = adjust_hue_bgr(img, factor).astype(int)
        assert np.abs(ours - mmcv.adjust_hue(img, factor)).max() <= 3
    back = adjust_hue_bgr(adjust_hue_bgr(img, -0.2), 0.2).astype(int)
    assert np.abs(back - img).max() <= 1
    with pytest.raises(ValueError, match='hue_factor.*0.6'):
        adjust_hue_bgr(img, 0.6)


def test_jitter_cache_randomness():
    img, _ = colourful_image()
    t = ColorJitter(0.3, 0.3, 0.3, 0.1)
    with cache_random_params(t):
        first = t(dict(img=img.copy()))['img']
        second = t(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize('kwargs,match', [
    (dict(brightness=-0.1), 'brightness.*-0.1'),
    (dict(contrast=math.inf), 'contrast.*inf'),
    (dict(saturation='0.3'), "saturation.*'0.3'"),
    (dict(saturation=(1.3, 0.7)), r'saturation.*\(1\.3, 0\.7\)'),
    (dict(contrast=(-0.5, 1.)), r'contrast.*\(-0\.5, 1\.0\)'),
    (dict(hue=0.6), 'hue.*0.6'),
    (dict(hue=-0.1), 'hue.*-0.1'),
    (dict(hue=(-0.6, 0.)), r'hue.*\(-0\.6, 0\.0\)'),
    (dict(brightness=(0.5, 1., 1.5)), r'brightness.*\(0\.5, 1\.0, 1\.5\)'),
])
def test_jitter_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ColorJitter(**kwargs)


def test_jitter_refuses_grey_image():
    with pytest.raises(ValueError, match=r'a\.jpg.*H x W x 3'):
        ColorJitter(brightness=0.3)(
            dict(img_path='a.jpg', img=np.zeros((4, 4), np.uint8)))


def test_jitter_repr_and_registry():
    cfg = dict(
        type='ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3,
        hue=0.1)
    t = TRANSFORMS.build(cfg)
    assert isinstance(t, ColorJitter)
    assert repr(t) == ('ColorJitter(brightness=0.3, contrast=0.3, '
                       'saturation=0.3, hue=0.1)')


def test_wsfcn_training_pipeline():
    """wsfcn.md 1.4 on a VOC-sized image with a pseudo label and saliency:
    every output is 321 x 321 and stays uint8 / float."""
    rng = np.random.RandomState(0)
    pipeline = Compose([
        dict(type='RandomResizedCrop', scale=321, crop_ratio_range=(0.9, 1.)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='ColorJitter', brightness=0.3, contrast=0.3,
             saturation=0.3, hue=0.1),
    ])
    for seed in range(3):
        np.random.seed(seed)
        out = pipeline(
            dict(
                img=rng.randint(0, 256, (375, 500, 3), np.uint8),
                img_shape=(375, 500),
                gt_seg_map=rng.randint(0, 21, (375, 500), np.uint8),
                gt_saliency=rng.rand(375, 500).astype(np.float32),
                seg_fields=['gt_seg_map', 'gt_saliency']))
        assert out['img'].shape == (321, 321, 3)
        assert out['img'].dtype == np.uint8
        assert out['img_shape'] == (321, 321)
        assert out['gt_seg_map'].shape == (321, 321)
        assert out['gt_saliency'].shape == (321, 321)
