import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models import WSSSDataPreProcessor

KWARGS = dict(
    mean=[0., 0., 0.], std=[1., 1., 1.], pad_val=0, seg_pad_val=255)


def _data(shapes, seed=0, with_sal_label=True):
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in shapes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen).byte())
        sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                             ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 5, (1, h, w), generator=gen))
        sample.gt_saliency = PixelData(
            data=torch.randint(0, 2, (1, h, w), generator=gen).byte())
        if with_sal_label:
            sample.gt_sal_label = PixelData(
                data=torch.rand(1, h, w, generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _clone(data):
    return dict(
        inputs=[x.clone() for x in data['inputs']],
        data_samples=[s.clone() for s in data['data_samples']])


def test_saliency_padded_with_255_at_bottom_right():
    init_default_scope('mmseg')
    shapes = [(5, 7), (8, 4)]
    data = _data(shapes)
    originals = [(s.gt_saliency.data.clone(), s.gt_sal_label.data.clone(),
                  s.gt_sem_seg.data.clone()) for s in data['data_samples']]
    pre = WSSSDataPreProcessor(size=(10, 9), **KWARGS)
    out = pre(data, training=True)
    assert out['inputs'].shape == (2, 3, 10, 9)
    for (h, w), sample, (sal, sal_label, seg) in zip(shapes,
                                                    out['data_samples'],
                                                    originals):
        for field, orig in (('gt_saliency', sal), ('gt_sal_label',
                                                   sal_label),
                            ('gt_sem_seg', seg)):
            padded = sample.get(field).data
            assert padded.shape == (1, 10, 9), field
            assert padded.dtype == orig.dtype, field
            # the original map sits at the top left, unchanged ...
            assert torch.equal(padded[:, :h, :w], orig), field
            # ... and everything right of / below it is 255 (ignored)
            assert torch.all(padded[:, h:, :] == 255), field
            assert torch.all(padded[:, :, w:] == 255), field
        assert sample.metainfo['img_shape'] == (h, w)
        assert sample.metainfo['pad_shape'] == (10, 9)


def test_custom_saliency_pad_value_and_no_pad_needed():
    init_default_scope('mmseg')
    pre = WSSSDataPreProcessor(size=(6, 6), sal_pad_val=7, **KWARGS)
    out = pre(_data([(6, 6), (4, 6)], seed=1), training=True)
    full, short = out['data_samples']
    assert full.gt_saliency.shape == (6, 6)
    assert torch.all(short.gt_saliency.data[:, 4:] == 7)
    # gt_sem_seg keeps the stock seg_pad_val
    assert torch.all(short.gt_sem_seg.data[:, 4:] == 255)


def test_missing_saliency_fields_are_skipped():
    init_default_scope('mmseg')
    data = _data([(5, 5), (6, 4)], seed=2, with_sal_label=False)
    out = WSSSDataPreProcessor(size=(8, 8), **KWARGS)(data, training=True)
    for sample in out['data_samples']:
        assert 'gt_sal_label' not in sample
        assert sample.gt_saliency.shape == (8, 8)


def test_eval_mode_leaves_saliency_untouched():
    init_default_scope('mmseg')
    data = _data([(6, 5), (6, 5)], seed=3)
    originals = [s.gt_saliency.data.clone() for s in data['data_samples']]
    pre = WSSSDataPreProcessor(size=(10, 10), **KWARGS)
    out = pre(data, training=False)
    # no training-size padding at test time
    assert out['inputs'].shape == (2, 3, 6, 5)
    for sample, orig in zip(out['data_samples'], originals):
        assert torch.equal(sample.gt_saliency.data, orig)


def test_matches_stock_preprocessor_otherwise():
    init_default_scope('mmseg')
    data = _data([(5, 7), (8, 4)], seed=4)
    cfg = dict(size=(9, 9), bgr_to_rgb=True, **KWARGS)
    ours = WSSSDataPreProcessor(**cfg)(_clone(data), training=True)
    # the stock one, built through the registry (importing mmseg.models
    # before mmseg_wsss's compat patches fails without mmcv's ops)
    stock_pre = MODELS.build(dict(type='SegDataPreProcessor', **cfg))
    assert type(stock_pre).__name__ == 'SegDataPreProcessor'
    stock = stock_pre(_clone(data), training=True)
    assert torch.equal(ours['inputs'], stock['inputs'])
    for a, b in zip(ours['data_samples'], stock['data_samples']):
        assert torch.equal(a.gt_sem_seg.data, b.gt_sem_seg.data)
        assert a.metainfo == b.metainfo


# --------------------------------------------------------------------------
# multi-view inputs (CoSA, cosa.md 6 property 15)

IMAGENET = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)


def _six_channel_data(shapes, seed=0):
    """Two-view samples: weak = the 3-channel image, strong = another."""
    data = _data(shapes, seed=seed)
    gen = torch.Generator().manual_seed(seed + 100)
    data['inputs'] = [
        torch.cat([x, torch.randint(0, 256, x.shape, generator=gen).byte()])
        for x in data['inputs']
    ]
    return data


def _view(data, start):
    out = _clone(data)
    out['inputs'] = [x[start:start + 3] for x in out['inputs']]
    return out


@pytest.mark.parametrize('training,pad', [(True, dict(size=(10, 9))),
                                          (True, dict(size_divisor=4)),
                                          (False, dict(size=(10, 9))),
                                          (False,
                                           dict(size=(10, 9),
                                                test_cfg=dict(
                                                    size_divisor=4)))])
def test_six_channels_equal_two_three_channel_calls(training, pad):
    init_default_scope('mmseg')
    shapes = [(5, 7), (8, 4)] if training else [(6, 5), (6, 5)]
    data = _six_channel_data(shapes)
    pre = WSSSDataPreProcessor(**IMAGENET, **pad)
    out = pre(_clone(data), training=training)
    weak = pre(_view(data, 0), training=training)
    strong = pre(_view(data, 3), training=training)
    assert out['inputs'].shape[:2] == (2, 6)
    assert torch.equal(out['inputs'][:, :3], weak['inputs'])
    assert torch.equal(out['inputs'][:, 3:], strong['inputs'])
    for ours, ref, (h, w) in zip(out['data_samples'], weak['data_samples'],
                                 shapes):
        assert ours.metainfo == ref.metainfo
        assert tuple(ours.img_shape) == (h, w)
        for field in ('gt_sem_seg', 'gt_saliency', 'gt_sal_label'):
            assert torch.equal(ours.get(field).data, ref.get(field).data)


def test_each_view_is_flipped_and_normalised():
    init_default_scope('mmseg')
    bgr_weak, bgr_strong = (10., 20., 30.), (200., 150., 100.)
    x = torch.cat([
        torch.tensor(bgr_weak).view(3, 1, 1).expand(3, 4, 5),
        torch.tensor(bgr_strong).view(3, 1, 1).expand(3, 4, 5)
    ]).byte()
    sample = SegDataSample(metainfo=dict(img_shape=(4, 5)))
    pre = WSSSDataPreProcessor(size=(6, 6), **IMAGENET)
    out = pre(dict(inputs=[x], data_samples=[sample]), training=True)
    y = out['inputs'][0]
    assert y.shape == (6, 6, 6)
    mean, std = IMAGENET['mean'], IMAGENET['std']
    for view, bgr in enumerate((bgr_weak, bgr_strong)):
        for c in range(3):  # RGB channel c is BGR channel 2 - c
            expected = (bgr[2 - c] - mean[c]) / std[c]
            torch.testing.assert_close(y[3 * view + c, :4, :5],
                                       torch.full((4, 5), expected))
    # padding is 0 in normalised space, in both views
    assert torch.all(y[:, 4:] == 0) and torch.all(y[:, :, 5:] == 0)
    assert tuple(out['data_samples'][0].img_shape) == (4, 5)


def test_three_channels_take_the_stock_path_with_imagenet_mean():
    init_default_scope('mmseg')
    data = _data([(5, 7), (8, 4)], seed=5)
    cfg = dict(size=(9, 9), **IMAGENET)
    ours = WSSSDataPreProcessor(**cfg)(_clone(data), training=True)
    stock = MODELS.build(dict(type='SegDataPreProcessor', **cfg))(
        _clone(data), training=True)
    assert torch.equal(ours['inputs'], stock['inputs'])


@pytest.mark.parametrize('channels,match', [((4, 4), r'\[4\]'),
                                            ((3, 6), r'\[3, 6\]'),
                                            ((6, 9), r'\[6, 9\]')])
def test_bad_multi_view_channel_counts(channels, match):
    init_default_scope('mmseg')
    inputs = [torch.zeros(c, 4, 4, dtype=torch.uint8) for c in channels]
    samples = [SegDataSample(metainfo=dict(img_shape=(4, 4)))
               for _ in channels]
    pre = WSSSDataPreProcessor(size=(4, 4), **IMAGENET)
    with pytest.raises(ValueError, match=match):
        pre(dict(inputs=inputs, data_samples=samples), training=True)


def test_multi_view_needs_a_three_value_mean():
    init_default_scope('mmseg')
    pre = WSSSDataPreProcessor(
        mean=[0.] * 6, std=[1.] * 6, size=(4, 4))
    data = dict(inputs=[torch.zeros(6, 4, 4, dtype=torch.uint8)],
                data_samples=[SegDataSample()])
    with pytest.raises(ValueError, match='got 6'):
        pre(data, training=True)
