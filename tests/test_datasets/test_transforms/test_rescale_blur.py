"""RandomRescale and PILGaussianBlur: CoSA's shared view geometry and blur
(cosa.md 2.1)."""
import mmcv
import numpy as np
import pytest
from PIL import Image, ImageFilter

from mmseg_wsss.datasets.transforms import PILGaussianBlur, RandomRescale


def block_results(h=12, w=20):
    """A BGR image and a label map of 4 x 4 blocks (labels 0..14)."""
    rows, cols = np.mgrid[:h, :w]
    label = ((rows // 4) * 5 + cols // 4).astype(np.uint8)
    img = np.stack([label * 10, rows * 12, cols * 12], -1).astype(np.uint8)
    return dict(img=img, gt_seg_map=label, seg_fields=['gt_seg_map'],
                img_shape=(h, w))


# --------------------------------------------------------------------------
# RandomRescale


def test_rescale_ratio_is_relative_to_the_image():
    """Size = round(side * r) with r the draw, for images of any size; the
    image is mmcv's bilinear resize, the map its nearest resize."""
    t = RandomRescale(ratio_range=(0.5, 2.0))
    ratios = []
    for seed in range(20):
        for h, w in ((12, 20), (30, 9)):
            np.random.seed(seed)
            ratio = np.random.uniform(0.5, 2.0)
            ratios.append(ratio)
            src = block_results(h, w)
            np.random.seed(seed)
            out = t(dict(src, img=src['img'].copy()))
            size = (int(w * ratio + 0.5), int(h * ratio + 0.5))
            assert out['img'].shape == (size[1], size[0], 3)
            assert tuple(out['img_shape']) == (size[1], size[0])
            np.testing.assert_allclose(out['scale_factor'],
                                       (size[0] / w, size[1] / h))
            assert np.array_equal(
                out['img'],
                mmcv.imresize(src['img'], size, interpolation='bilinear'))
            assert np.array_equal(
                out['gt_seg_map'],
                mmcv.imresize(src['gt_seg_map'], size,
                              interpolation='nearest'))
    assert min(ratios) < 0.8 and max(ratios) > 1.7


def test_rescale_fixed_ratio_and_tiny_image():
    out = RandomRescale(ratio_range=(2., 2.))(block_results(3, 5))
    assert out['img'].shape[:2] == (6, 10)
    assert set(np.unique(out['gt_seg_map'])) <= set(range(15))
    tiny = RandomRescale(ratio_range=(0.1, 0.1))(block_results(2, 3))
    assert tiny['img'].shape[:2] == (1, 1)


@pytest.mark.parametrize('kwargs,match', [
    (dict(ratio_range=(0., 2.)), r'\(0.0, 2.0\)'),
    (dict(ratio_range=(2., 1.)), r'\(2.0, 1.0\)'),
    (dict(ratio_range=1.5), '1.5'),
    (dict(interpolation='cubic'), "'cubic'"),
])
def test_rescale_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomRescale(**kwargs)


# --------------------------------------------------------------------------
# PILGaussianBlur


def noisy_image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (16, 18, 3),
                                                dtype=np.uint8)


def test_blur_is_pil_gaussian_blur_of_the_drawn_radius():
    img = noisy_image()
    t = PILGaussianBlur(prob=1., radius=(0.1, 2.0))
    radii = []
    for seed in range(10):
        np.random.seed(seed)
        np.random.rand()
        radius = np.random.uniform(0.1, 2.0)
        radii.append(radius)
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        # channel-wise, so the BGR image blurs as its RGB flip does
        rgb = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
        expected = np.asarray(rgb.filter(
            ImageFilter.GaussianBlur(radius)))[..., ::-1]
        assert np.array_equal(out, expected)
        assert out.flags.writeable
        assert out.std() < img.std()
    assert min(radii) >= 0.1 and max(radii) <= 2.0


def test_blur_probability():
    img = noisy_image(1)
    assert np.array_equal(
        PILGaussianBlur(prob=0.)(dict(img=img.copy()))['img'], img)
    t = PILGaussianBlur(prob=0.5)
    blurred = 0
    for seed in range(400):
        np.random.seed(seed)
        blurred += not np.array_equal(t(dict(img=img.copy()))['img'], img)
    assert 160 < blurred < 240  # expected 200


@pytest.mark.parametrize('kwargs,match', [
    (dict(prob=1.5), '1.5'),
    (dict(prob=True), 'True'),
    (dict(radius=(0., 1.)), r'\(0.0, 1.0\)'),
    (dict(radius=(2., 1.)), r'\(2.0, 1.0\)'),
])
def test_blur_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PILGaussianBlur(**kwargs)


def test_blur_refuses_non_uint8_or_multiview_images():
    t = PILGaussianBlur(prob=1.)
    with pytest.raises(ValueError, match=r'a\.jpg.*float32'):
        t(dict(img=np.zeros((4, 4, 3), np.float32), img_path='a.jpg'))
    with pytest.raises(ValueError, match=r'\(4, 4, 6\)'):
        t(dict(img=np.zeros((4, 4, 6), np.uint8)))
