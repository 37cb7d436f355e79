"""WSFCN: training inputs of the head, the warm-up flag and the papers' test
procedure (wsfcn.md 1.3: scales, flip, padding, false-positive cut,
background, "§" labels, CRF)."""
import cv2
import numpy as np
import pytest
import torch
from mmengine import ConfigDict
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg_wsss.models.utils.multiscale import rescale

NUM_CLASSES = 5
SIZE = 32


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _model(**test_cfg):
    cfg = ConfigDict(
        type='WSFCN',
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True),
        backbone=dict(
            type='ResNetV1c',
            depth=18,
            stem_channels=8,
            base_channels=4,
            out_indices=(0, 3),
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4)),
        decode_head=dict(
            type='FCASF2Head',
            in_channels=(4, 32),
            channels=8,
            num_classes=NUM_CLASSES,
            norm_cfg=dict(type='BN'),
            context_cfg=dict(type='ASPPContext', dilations=(1, 2, 3, 4)),
            fusion_cfg=dict(type='SkipGCIFusion', skip_channels=4),
            pamr_cfg=dict(type='PAMR', num_iter=2, dilations=(1, 2))),
        train_cfg=dict(),
        test_cfg=dict(test_cfg))
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _batch(model, labels=((1, 0, 1, 0), (0, 1, 0, 0)), img_path=None):
    torch.manual_seed(0)
    samples = []
    for row in labels:
        sample = SegDataSample()
        sample.set_data(dict(gt_img_labels=torch.tensor(row).float()))
        meta = dict(
            img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
            pad_shape=(SIZE, SIZE))
        if img_path is not None:
            meta['img_path'] = img_path
        sample.set_metainfo(meta)
        samples.append(sample)
    raw = torch.randint(
        0, 256, (len(labels), 3, SIZE, SIZE), dtype=torch.uint8)
    data = model.data_preprocessor(
        dict(inputs=list(raw), data_samples=samples), False)
    return raw, data['inputs'], data['data_samples']


def _merged(model, inputs, samples, **test_cfg):
    """seg_logits (merged masks) of ``mode='wsss_msf'`` with ``test_cfg``."""
    model.test_cfg = ConfigDict(
        dict(
            dict(mode='wsss_msf', fp_cut_score=None, bg_mode='none'),
            **test_cfg))
    with torch.no_grad():
        results = model.eval().predict(inputs, samples)
    return torch.stack([r.seg_logits.data for r in results])


def test_loss_gets_the_denormalised_images():
    model = _model()
    raw, inputs, samples = _batch(model)
    # BGR uint8 in, RGB normalised inside: denormalize undoes both
    torch.testing.assert_close(
        model.denormalize(inputs), raw.flip(1).float() / 255,
        atol=1e-5, rtol=0)
    seen = {}
    loss = model.decode_head.loss

    def spy(*args, images=None):
        seen['images'] = images
        return loss(*args, images=images)

    model.decode_head.loss = spy
    losses = model.train().loss(inputs, samples)
    assert set(losses) == {
        'decode.loss_cls', 'decode.loss_seg', 'decode.pseudo_gt_ratio'
    }
    torch.testing.assert_close(seen['images'], model.denormalize(inputs))


def test_warmup_flag_reaches_the_head():
    model = _model()
    model.seg_loss_enabled = False
    assert model.decode_head.seg_loss_enabled is False
    _, inputs, samples = _batch(model)
    losses = model.train().loss(inputs, samples)
    assert losses['decode.loss_seg'].item() == 0
    assert losses['decode.pseudo_gt_ratio'].item() == 0


def test_single_pass_equals_stock_whole_inference():
    model = _model(mode='whole')
    _, inputs, samples = _batch(model)
    with torch.no_grad():
        whole = model.eval().predict(inputs, samples)
    whole = torch.stack([r.seg_logits.data for r in whole])
    torch.testing.assert_close(whole.sum(dim=1), torch.ones(2, SIZE, SIZE))
    torch.testing.assert_close(_merged(model, inputs, samples), whole)


def test_scales_average_the_single_scale_passes():
    model = _model()
    _, inputs, samples = _batch(model)
    one = _merged(model, inputs, samples, scales=(1.0, ))
    half = _merged(model, inputs, samples, scales=(0.5, ))
    both = _merged(model, inputs, samples, scales=(1.0, 0.5))
    torch.testing.assert_close(both, (one + half) / 2)


def test_flip_is_equivariant():
    model = _model()
    _, inputs, samples = _batch(model)
    out = _merged(model, inputs, samples, scales=(1.0, 0.5), flip=True)
    flipped = _merged(
        model, inputs.flip(3), samples, scales=(1.0, 0.5), flip=True)
    torch.testing.assert_close(flipped, out.flip(3), atol=1e-5, rtol=0)


def test_padding():
    model = _model()
    _, inputs, samples = _batch(model)
    plain = _merged(model, inputs, samples)
    padded = _merged(model, inputs, samples, pad_size=(48, 48))
    assert padded.shape == plain.shape
    # zero padding changes the global pooling inside ASPP
    assert not torch.allclose(padded, plain)
    with pytest.raises(ValueError, match='pad_size'):
        _merged(model, inputs, samples, pad_size=(16, 48))


def test_background_modes():
    model = _model()
    _, inputs, samples = _batch(model)
    none = _merged(model, inputs, samples)
    const = _merged(model, inputs, samples, bg_mode='const', bg_value=0.25)
    power = _merged(model, inputs, samples, bg_mode='pow', bg_pow=3)
    assert torch.all(const[:, 0] == 0.25)
    torch.testing.assert_close(power[:, 0], none[:, 0].pow(3))
    torch.testing.assert_close(const[:, 1:], none[:, 1:])
    with pytest.raises(ValueError, match='bg_mode'):
        _model(bg_mode='max')


def test_false_positive_cut_and_gt_labels():
    model = _model()
    _, inputs, samples = _batch(model)
    none = _merged(model, inputs, samples)
    # no sigmoid score exceeds 1: every class is cut, only background left
    cut_all = _merged(model, inputs, samples, fp_cut_score=1.0)
    assert torch.all(cut_all[:, 1:] == 0)
    assert torch.all(cut_all[:, 0] == none[:, 0])
    # the "§" protocol keeps exactly the labelled classes
    gt = _merged(model, inputs, samples, use_gt_labels=True)
    labels = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0]]).bool()
    for b in range(2):
        for c in range(NUM_CLASSES - 1):
            expected = none[b, c + 1] if labels[b, c] else 0 * none[b, c + 1]
            torch.testing.assert_close(gt[b, c + 1], expected)


def test_false_positive_cut_uses_the_max_score_over_passes():
    model = _model().eval()
    _, inputs, samples = _batch(model)
    with torch.no_grad():
        scores = [
            model.decode_head.class_scores(
                model.decode_head(
                    model.extract_feat(rescale(inputs, scale, 'bicubic'))))
            for scale in (1.0, 0.5)
        ]
    best = torch.stack(scores).sigmoid().amax(0)
    ranked = best.flatten().sort().values
    cut = ((ranked[3] + ranked[4]) / 2).item()  # keeps 4 of the 8
    merged = _merged(
        model, inputs, samples, scales=(1.0, 0.5), fp_cut_score=cut)
    kept = merged[:, 1:].flatten(2).amax(2) > 0
    assert torch.equal(kept, best > cut)


def test_crf_gives_a_posterior(tmp_path):
    pytest.importorskip('pydensecrf')
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, np.random.RandomState(0).randint(
        0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    model = _model()
    _, inputs, samples = _batch(model, img_path=path)
    model.test_cfg = ConfigDict(
        mode='wsss_msf', bg_mode='const', crf=dict(num_iters=2))
    with torch.no_grad():
        results = model.eval().predict(inputs, samples)
    post = results[0].seg_logits.data
    torch.testing.assert_close(post.sum(0), torch.ones(SIZE, SIZE))
    assert torch.equal(results[0].pred_sem_seg.data[0], post.argmax(0))


def test_label_outputs():
    model = _model()
    _, inputs, _ = _batch(model)
    with torch.no_grad():
        out = model.eval().label_outputs(inputs)
    assert out['cam'].shape == (2, NUM_CLASSES - 1, SIZE // 4, SIZE // 4)
    assert torch.all(out['seg'][:, 0] == 1.0)
    torch.testing.assert_close(out['seg'][:, 1:], out['cam'])
    assert set(model.label_outputs(inputs, with_decode=False)) == {'cam'}


@pytest.mark.parametrize('parts', ['ssss', 'wsfcn'])
@pytest.mark.parametrize('shape', [(1, 32, 32), (2, 37, 45)])
def test_odd_sizes_and_a_batch_of_one(parts, shape):
    """A batch of one (BN in training) and sizes that are no multiple of
    the output stride train and predict at the input size."""
    model = _model(mode='wsss_msf', scales=(1.0, 0.5), flip=True)
    if parts == 'wsfcn':
        model.decode_head = MODELS.build(
            dict(
                type='FCASF2Head',
                in_channels=(4, 32),
                channels=8,
                num_classes=NUM_CLASSES,
                norm_cfg=dict(type='BN'),
                context_cfg=dict(type='FCA', dilations=(1, 2, 3, 4)),
                fusion_cfg=dict(type='SF2Fusion', align_channels=4),
                pamr_cfg=dict(type='PAMR', num_iter=2, dilations=(1, 2))))
    batch, height, width = shape
    torch.manual_seed(0)
    inputs = torch.randn(batch, 3, height, width)
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.set_data(dict(gt_img_labels=torch.tensor([1., 0, 0, 1])))
        sample.set_metainfo(
            dict(img_shape=(height, width), ori_shape=(height, width)))
        samples.append(sample)
    losses = model.train().loss(inputs, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    with torch.no_grad():
        results = model.eval().predict(inputs, samples)
    assert results[0].pred_sem_seg.data.shape == (1, height, width)


def test_an_image_without_labels():
    """Empty image labels: every pixel of the pseudo GT is background or
    ignored, the class-balanced weight of a one-class map is 0, and the
    losses stay finite."""
    model = _model()
    _, inputs, samples = _batch(model, labels=((0, 0, 0, 0), (1, 0, 0, 0)))
    losses = model.train().loss(inputs, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()


@pytest.mark.parametrize('test_cfg,match', [
    (dict(scale=(1.0, 2.0)), 'unknown test_cfg keys'),
    (dict(mode='msf'), 'test_cfg.mode'),
    (dict(scales=(0.0, )), 'positive numbers'),
    (dict(scales='1'), 'positive numbers'),
    (dict(scales=()), 'positive numbers'),
    (dict(pad_size=64), 'pad_size'),
    (dict(bg_mode='constant'), 'bg_mode'),
])
def test_test_cfg_is_checked_at_build_and_predict(test_cfg, match):
    with pytest.raises(ValueError, match=match):
        _model(**test_cfg)
    model = _model(mode='wsss_msf')
    _, inputs, samples = _batch(model)
    model.test_cfg.update(test_cfg)
    with pytest.raises(ValueError, match=match):
        model.eval().predict(inputs, samples)


def test_crf_true_is_the_code_crf(tmp_path, monkeypatch):
    """``crf=True`` (what the command line can express) is WSFCN_CRF, a
    dict updates it; grads on (no torch.no_grad) are fine."""
    from mmseg_wsss.models.segmentors import test_time, wsfcn
    seen = []

    def fake_crf(img, probs, **kwargs):
        seen.append(kwargs)
        return probs

    monkeypatch.setattr(test_time, 'dense_crf', fake_crf)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, np.zeros((SIZE, SIZE, 3), np.uint8))
    model = _model()
    _, inputs, samples = _batch(model, img_path=path)
    _merged(model, inputs, samples, crf=True)
    assert seen[-1] == wsfcn.WSFCN_CRF
    model.test_cfg.crf = dict(num_iters=5)
    model.eval().predict(inputs, samples)  # outside no_grad
    assert seen[-1] == dict(wsfcn.WSFCN_CRF, num_iters=5)
    model.test_cfg.crf = ["{'num_iters':10", "'bi_sxy':30}"]
    with pytest.raises(TypeError, match='crf=True'):
        model.predict(inputs, samples)
