"""CoSA's weak / strong views (cosa.md 2.1, 6 property 14) and their train
pipeline on the toy set, through PackWSSSInputs and the preprocessor."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate
from PIL import Image, ImageEnhance, ImageOps

from mmseg_wsss.datasets import WSSSVOCDataset
from mmseg_wsss.datasets.toy import (TOY_CLASSES, TOY_PALETTE,
                                     make_toy_dataset)
from mmseg_wsss.datasets.transforms import (STRONG_OPS, PackWSSSInputs,
                                            WeakStrongViews, strong_op)
from mmseg_wsss.datasets.transforms.views import (enhance_factor,
                                                  posterize_bits,
                                                  solarize_threshold)
from mmseg_wsss.models import WSSSDataPreProcessor

CROP = (40, 40)
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def train_pipeline(strong_ops=tuple(STRONG_OPS), crop=CROP):
    """cosa.md 5's train pipeline at a toy crop size."""
    return [
        dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
        dict(type='LoadImageLevelLabels'),
        dict(type='RandomRescale', ratio_range=(0.5, 2.0)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomCrop', crop_size=crop),
        dict(type='PILGaussianBlur', prob=0.5, radius=(0.1, 2.0)),
        dict(type='WeakStrongViews', strong_ops=list(strong_ops),
             magnitude=(1, 9)),
        dict(type='PackWSSSInputs')
    ]


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('toy'))
    return make_toy_dataset(out, num_train=3, num_val=0, size=48,
                            seed=1)['data_root']


def toy_dataset(root, pipeline):
    return WSSSVOCDataset(
        data_root=root,
        metainfo=dict(classes=TOY_CLASSES, palette=TOY_PALETTE),
        pipeline=pipeline)


def textured_image(h=20, w=24, seed=0):
    """A BGR uint8 image away from the extremes (so AutoContrast acts)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 128, (h, w, 3)) + 40).astype(np.uint8)


def pil_reference(img: np.ndarray, op: str, level: int) -> np.ndarray:
    """The op as CoSA's code applies it, with PIL on the RGB image."""
    pil = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
    if op == 'Identity':
        out = pil
    elif op == 'AutoContrast':
        out = ImageOps.autocontrast(pil)
    elif op == 'Equalize':
        out = ImageOps.equalize(pil)
    elif op == 'Solarize':
        out = ImageOps.solarize(pil, solarize_threshold(level))
    elif op == 'Posterize':
        out = ImageOps.posterize(pil, posterize_bits(level))
    else:
        out = getattr(ImageEnhance, op)(pil).enhance(enhance_factor(level))
    return np.asarray(out)[..., ::-1].astype(int)


# --------------------------------------------------------------------------
# magnitude mapping (cosa.md 2.1)


def test_magnitude_mappings():
    levels = range(1, 10)
    np.testing.assert_allclose([enhance_factor(lv) for lv in levels],
                               [0.1 + 0.18 * lv for lv in levels])
    assert enhance_factor(1) == pytest.approx(0.28)
    assert enhance_factor(9) == pytest.approx(1.72)
    assert [solarize_threshold(lv) for lv in levels] == [
        25, 51, 76, 102, 128, 153, 179, 204, 230
    ]
    assert solarize_threshold(10) == 255
    assert [posterize_bits(lv) for lv in levels] == [4, 4, 3, 3, 2, 2, 2, 1, 1]


@pytest.mark.parametrize('op', list(STRONG_OPS))
def test_ops_match_pil_at_every_level(op):
    """Each op at each level equals PIL's op with the spec's parameter:
    exactly for the point ops and Brightness, within one grey level for
    Color / Contrast (cv2 rounds, PIL truncates), and for Sharpness inside
    a 1-pixel border (PIL leaves the border unfiltered, cv2 reflects)."""
    img = textured_image()
    tol = {'Color': 1, 'Contrast': 1, 'Sharpness': 1}.get(op, 0)
    for level in range(1, 10):
        out = strong_op(img, op, level)
        assert out.dtype == np.uint8 and out.shape == img.shape
        diff = np.abs(out.astype(int) - pil_reference(img, op, level))
        if op == 'Sharpness':
            diff = diff[1:-1, 1:-1]
        assert diff.max() <= tol, (op, level, diff.max())


def test_op_parameters_act_as_specified():
    """Direct checks of the mapped parameters on known pixel values."""
    values = np.arange(256, dtype=np.uint8)
    img = np.repeat(values[None, :, None], 3, axis=2)  # 1 x 256 x 3
    sol = strong_op(img, 'Solarize', 5)[0, :, 0]  # threshold 128
    assert np.array_equal(sol[:128], values[:128])
    assert np.array_equal(sol[128:], 255 - values[128:])
    post = strong_op(img, 'Posterize', 9)[0, :, 0]  # 1 bit
    assert set(post.tolist()) == {0, 128}
    post = strong_op(img, 'Posterize', 1)[0, :, 0]  # 4 bits
    assert np.array_equal(post, values & 0xF0)
    grey = np.full((4, 4, 3), 100, np.uint8)
    for level in (1, 5, 9):
        expected = min(255, int(100 * (0.1 + 0.18 * level)))
        bright = strong_op(grey, 'Brightness', level)
        assert np.abs(bright.astype(int) - expected).max() <= 1
    # the input is never modified
    before = img.copy()
    for op in STRONG_OPS:
        strong_op(img, op, 5)
    assert np.array_equal(img, before)


# --------------------------------------------------------------------------
# WeakStrongViews


def test_identity_views_are_equal():
    img = textured_image(9, 13)
    out = WeakStrongViews(strong_ops=['Identity'])(
        dict(img=img.copy(), img_shape=(9, 13)))
    assert out['img'].shape == (9, 13, 6) and out['img'].dtype == np.uint8
    assert np.array_equal(out['img'][..., :3], img)
    assert np.array_equal(out['img'][..., 3:], img)
    assert out['img_shape'] == (9, 13)
    assert out['strong_op'] == 'Identity'


def test_weak_half_is_the_input_and_strong_half_its_op():
    img = textured_image(10, 12, seed=3)
    t = WeakStrongViews()
    for seed in range(30):
        np.random.seed(seed)
        out = t(dict(img=img.copy(), img_shape=(10, 12)))
        assert np.array_equal(out['img'][..., :3], img)
        assert np.array_equal(
            out['img'][..., 3:],
            strong_op(img, out['strong_op'], out['strong_level']))


def test_op_and_level_draws_are_uniform():
    t = WeakStrongViews()
    img = textured_image(2, 2)
    ops, levels = [], []
    for seed in range(1800):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))
        ops.append(out['strong_op'])
        levels.append(out['strong_level'])
    op_counts = [ops.count(op) for op in STRONG_OPS]
    assert min(op_counts) > 140 and max(op_counts) < 260  # expected 200
    assert sorted(set(levels)) == list(range(1, 10))
    level_counts = np.bincount(levels)[1:]
    assert level_counts.min() > 140 and level_counts.max() < 260
    np.random.seed(0)
    fixed = WeakStrongViews(strong_ops=['Solarize'], magnitude=(4, 4))
    for _ in range(5):
        assert fixed(dict(img=img.copy()))['strong_level'] == 4


@pytest.mark.parametrize('kwargs,match', [
    (dict(strong_ops=['Identity', 'Invert']), r"\['Invert'\]"),
    (dict(strong_ops=[]), r'\[\]'),
    (dict(strong_ops='Identity'), "'Identity'"),
    (dict(magnitude=(0, 11)), r'\(0, 11\)'),
    (dict(magnitude=(5, 3)), r'\(5, 3\)'),
    (dict(magnitude=(1.0, 9)), r'\(1.0, 9\)'),
    (dict(magnitude=(-1, 9)), r'\(-1, 9\)'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WeakStrongViews(**kwargs)


def test_bad_images_and_levels():
    t = WeakStrongViews()
    with pytest.raises(ValueError, match=r'x\.jpg.*\(4, 4, 6\)'):
        t(dict(img=np.zeros((4, 4, 6), np.uint8), img_path='x.jpg'))
    with pytest.raises(ValueError, match='float32'):
        t(dict(img=np.zeros((4, 4, 3), np.float32)))
    with pytest.raises(ValueError, match='11'):
        strong_op(textured_image(), 'Color', 11)
    with pytest.raises(ValueError, match="'Rotate'"):
        strong_op(textured_image(), 'Rotate', 3)


def test_pack_keeps_six_channels():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 6), np.uint8)
    out = PackWSSSInputs()(
        dict(img=img, img_shape=(5, 7), ori_shape=(5, 7),
             gt_img_labels=np.eye(4, dtype=np.float32)[1], seg_fields=[]))
    assert out['inputs'].shape == (6, 5, 7)
    assert torch.equal(out['inputs'],
                       torch.from_numpy(img).permute(2, 0, 1))
    assert out['data_samples'].img_shape == (5, 7)
    assert out['data_samples'].gt_img_labels.tolist() == [0, 1, 0, 0]


# --------------------------------------------------------------------------
# the full train pipeline: shared geometry (property 14)


def test_identity_pipeline_gives_equal_halves(toy_root):
    """Rescale, flip, crop and blur are drawn once: with Identity forced,
    both halves of every packed input are equal, for every seed."""
    dataset = toy_dataset(toy_root, train_pipeline(['Identity']))
    shapes, flips = set(), set()
    for seed in range(12):
        np.random.seed(seed)
        packed = dataset[seed % len(dataset)]
        x = packed['inputs']
        assert x.shape[0] == 6
        assert torch.equal(x[:3], x[3:])
        assert not torch.equal(x[:3], x[:3].flip(-1))  # flips are visible
        shapes.add(tuple(x.shape[1:]))
        flips.add(packed['data_samples'].flip)
    # rescale / crop varied, and flipped and unflipped draws both occurred
    assert len(shapes) > 1 and flips == {True, False}


def test_pipeline_strong_half_is_op_of_weak_half(toy_root):
    """With every op: the strong half is the drawn op applied pixel for
    pixel to the weak half, so a flip or crop drawn per view would fail."""
    pipeline = Compose(train_pipeline()[:-1])
    dataset = toy_dataset(toy_root, [])
    seen = set()
    for seed in range(40):
        np.random.seed(seed)
        results = pipeline(dataset[seed % len(dataset)])
        img = results['img']
        weak, strong = img[..., :3], img[..., 3:]
        assert img.shape[:2] == tuple(results['img_shape'])
        assert np.array_equal(
            strong, strong_op(weak, results['strong_op'],
                              results['strong_level']))
        seen.add(results['strong_op'])
    assert len(seen) >= 7


def test_pipeline_batch_through_preprocessor(toy_root):
    """The packed samples give a B x 6 x H x W batch; img_shape stays the
    valid box; each half is the normalised RGB view."""
    dataset = toy_dataset(toy_root, train_pipeline())
    np.random.seed(5)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    raw = [x.clone() for x in batch['inputs']]
    valid = [tuple(x.shape[1:]) for x in raw]
    pre = WSSSDataPreProcessor(
        mean=MEAN, std=STD, bgr_to_rgb=True, size=CROP, pad_val=0,
        seg_pad_val=255)
    out = pre(batch, training=True)
    assert out['inputs'].shape == (len(dataset), 6) + CROP
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    for x, (h, w), sample, y in zip(raw, valid, out['data_samples'],
                                    out['inputs']):
        assert tuple(sample.img_shape) == (h, w)
        assert sample.gt_img_labels.shape == (len(TOY_CLASSES) - 1, )
        for v in range(2):
            rgb = x[3 * v:3 * v + 3].flip(0).float()
            torch.testing.assert_close(y[3 * v:3 * v + 3, :h, :w],
                                       (rgb - mean) / std)
        assert torch.all(y[:, h:, :] == 0) and torch.all(y[:, :, w:] == 0)
