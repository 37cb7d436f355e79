"""CoSA: AN's multi-scale pass, the losses and the warm-up, predict
(cosa.md §2.5-2.14, §5 "Segmentor structure"; §6 properties 1, 4, 13 at
the segmentor level)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine import Config
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg_wsss.engine.hooks import EMAAssignmentHook
from mmseg_wsss.models.segmentors import cosa as cosa_module
from mmseg_wsss.pseudo_labels.online import perplexity

NUM_CLASSES = 4  # background + 3
SIZE = 32
SCALES = (1.0, 0.5, 1.5)
LABELS = ((1, 0, 1), (0, 1, 0))
LOSS_KEYS = {
    'loss_cls', 'loss_cls_aux', 'loss_c2s', 'loss_c2s_aux', 'loss_s2c',
    'loss_csc', 'cpl_fg_ratio', 'mean_perplexity'
}
VIT_CONFIG = 'configs/_base_/models/cosa_vitb16.py'


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _model(**kwargs):
    """A tiny CoSA: ResNet-18 a few channels wide (OS 8: 4 x 4 features at
    32 px), LargeFOV of 8 channels, 3 foreground classes."""
    cfg = dict(
        type='CoSA',
        data_preprocessor=dict(
            type='WSSSDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True),
        backbone=dict(
            type='ResNetV1c',
            depth=18,
            stem_channels=8,
            base_channels=4,
            out_indices=(2, 3),
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4)),
        decode_head=dict(
            type='LargeFOVHead',
            in_channels=32,
            in_index=1,
            channels=8,
            dilation=2,
            num_classes=NUM_CLASSES,
            fc_dropout_ratio=0.,
            dropout_ratio=0.),
        cam_head=dict(
            type='DualCAMHead',
            in_channels=(32, 16),
            in_index=(1, 0),
            num_classes=NUM_CLASSES),
        pseudo_scales=SCALES,
        train_cfg=dict(),
        test_cfg=dict())
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _samples(labels=LABELS, shapes=None, with_labels=True):
    samples = []
    for index, row in enumerate(labels):
        sample = SegDataSample()
        if with_labels:
            sample.set_data(dict(gt_img_labels=torch.tensor(row).float()))
        sample.set_metainfo(
            dict(
                img_shape=shapes[index] if shapes else (SIZE, SIZE),
                ori_shape=(SIZE, SIZE),
                pad_shape=(SIZE, SIZE)))
        samples.append(sample)
    return samples


def _inputs(channels=6, seed=1):
    return torch.randn(
        2, channels, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _img_labels(labels=LABELS):
    return torch.tensor(labels).float()


def _up(maps):
    return F.interpolate(
        maps, size=(SIZE, SIZE), mode='bilinear', align_corners=False)


def _reference(net, images, scales):
    """cosa.md 2.6 written out: every image and flip run alone, the raw
    (un-normalised) fused CAMs A, A-dagger and the mean segmentation."""
    net.eval()
    cam = cam_aux = seg = 0
    with torch.no_grad():
        for scale in scales:
            size = [round(scale * SIZE)] * 2
            scaled = images if scale == 1 else F.interpolate(
                images, size=size, mode='bilinear', align_corners=False)
            views = []
            for image, flipped in ((scaled, False), (scaled.flip(3), True)):
                outs = [net(img[None]) for img in image]
                maps = {
                    key: _up(torch.cat([out[key] for out in outs]))
                    for key in ('cam', 'cam_aux', 'seg')
                }
                views.append({k: v.flip(3) if flipped else v
                              for k, v in maps.items()})
            cam = cam + torch.maximum(views[0]['cam'], views[1]['cam']).relu()
            cam_aux = cam_aux + torch.maximum(views[0]['cam_aux'],
                                              views[1]['cam_aux']).relu()
            seg = seg + views[0]['seg'] + views[1]['seg']
    return cam, cam_aux, seg / (2 * len(scales))


def _minmax_masked(cam, img_labels):
    lo = cam.flatten(2).amin(2)[..., None, None]
    hi = cam.flatten(2).amax(2)[..., None, None]
    return (cam - lo) / (hi - lo + 1e-5) * img_labels[..., None, None]


def test_multiscale_outputs_match_the_spec():
    """Property 4 and the fusion: the fused CAMs are min-max normalised
    per image and class (max = m / (m + 1e-5), min 0), absent classes are
    0, and seg is the mean of the 2 S passes' logits."""
    model = _model()
    net = model.assignment_net
    images, img_labels = _inputs(3), _img_labels()
    out = model.multiscale_outputs(net, images, img_labels, SCALES)
    cam, cam_aux, seg = _reference(net, images, SCALES)
    assert out['cam'].shape == out['cam_aux'].shape == (2, 3, SIZE, SIZE)
    assert out['seg'].shape == (2, NUM_CLASSES, SIZE, SIZE)
    torch.testing.assert_close(out['cam'], _minmax_masked(cam, img_labels),
                               atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        out['cam_aux'], _minmax_masked(cam_aux, img_labels),
        atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out['seg'], seg, atol=1e-5, rtol=1e-4)
    for key, raw in (('cam', cam), ('cam_aux', cam_aux)):
        for b, c in img_labels.nonzero().tolist():
            span = float((raw[b, c] - raw[b, c].min()).max())
            assert span > 0
            assert float(out[key][b, c].min()) == 0
            assert float(out[key][b, c].max()) == pytest.approx(
                span / (span + 1e-5), rel=1e-5)
        assert torch.all(out[key][img_labels == 0] == 0)
    for training in (True, False):  # AN runs in eval mode, then as it was
        net.train(training)
        model.multiscale_outputs(net, images, img_labels, SCALES)
        assert net.training is training


def _two_stride_model():
    """M on an OS-16 map, M-dagger on an OS-8 one (as MiT's or Swin's
    stages): the network's outputs differ in size."""
    return _model(
        backbone=dict(
            type='ResNetV1c',
            depth=18,
            stem_channels=8,
            base_channels=4,
            out_indices=(1, 3),
            strides=(1, 2, 2, 1),
            dilations=(1, 1, 1, 2)),
        cam_head=dict(
            type='DualCAMHead',
            in_channels=(32, 8),
            in_index=(1, 0),
            num_classes=NUM_CLASSES))


def test_decoder_torch_default_init_survives_model_init():
    """cosa.md 2.4-2.5: ``model.init_weights()`` leaves ON's decoder with
    PyTorch's default init, and AN starts as its exact copy."""
    cfg = dict(
        type='LargeFOVHead', in_channels=32, in_index=1, channels=8,
        dilation=2, num_classes=NUM_CLASSES, fc_dropout_ratio=0.,
        dropout_ratio=0., torch_default_init=True)
    model = _model(decode_head=cfg)
    model.init_weights()
    EMAAssignmentHook().before_train(SimpleNamespace(model=model))
    weight = model.online.decode_head.conv_seg.weight
    bound = weight[0].numel()**-0.5  # 1 / sqrt(fan_in)
    assert weight.abs().max() <= bound and weight.abs().max() > 0.5 * bound
    for on, an in zip(model.online.parameters(),
                      model.assignment_net.parameters()):
        torch.testing.assert_close(on, an)


def test_outputs_of_different_strides():
    """Each map is resized to the image on its own (no crash, no second
    resize): the pass still matches cosa.md 2.6, and training runs."""
    model = _two_stride_model()
    net, images, img_labels = model.assignment_net, _inputs(3), _img_labels()
    with torch.no_grad():
        out = net.eval()(images)
    assert out['cam'].shape[-1] * 2 == out['cam_aux'].shape[-1]
    fused = model.multiscale_outputs(net, images, img_labels, SCALES)
    cam, cam_aux, seg = _reference(net, images, SCALES)
    torch.testing.assert_close(fused['cam'], _minmax_masked(cam, img_labels),
                               atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        fused['cam_aux'], _minmax_masked(cam_aux, img_labels),
        atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fused['seg'], seg, atol=1e-5, rtol=1e-4)
    model.train()
    losses = model.loss(_inputs(), _samples())
    assert set(losses) == LOSS_KEYS
    model.parse_losses(losses)[0].backward()


def test_multiscale_outputs_flip_equivariant():
    """Property 4: the pass on flip(x) is the flip of the pass on x."""
    model = _model()
    images, img_labels = _inputs(3), _img_labels()
    out = model.multiscale_outputs(model.assignment_net, images, img_labels,
                                   SCALES)
    flipped = model.multiscale_outputs(model.assignment_net, images.flip(3),
                                       img_labels, SCALES)
    for key in ('cam', 'cam_aux', 'seg'):
        torch.testing.assert_close(
            flipped[key], out[key].flip(3), atol=1e-5, rtol=1e-5)


def test_aux_last_scale_only():
    """The released code's M-dagger' is the last scale's alone; M' keeps
    every scale."""
    model = _model(aux_last_scale_only=True)
    net, images, img_labels = model.assignment_net, _inputs(3), _img_labels()
    last = model.multiscale_outputs(net, images, img_labels, SCALES)
    model.aux_last_scale_only = False
    every = model.multiscale_outputs(net, images, img_labels, SCALES)
    alone = model.multiscale_outputs(net, images, img_labels, SCALES[-1:])
    torch.testing.assert_close(last['cam_aux'], alone['cam_aux'])
    torch.testing.assert_close(last['cam'], every['cam'])
    torch.testing.assert_close(last['seg'], every['seg'])
    assert not torch.allclose(last['cam_aux'], every['cam_aux'], atol=1e-3)


def _an_calls(model):
    calls = []
    model.assignment_net.register_forward_hook(
        lambda *args: calls.append(1))
    return calls


def test_warmup_trains_the_classifiers_only():
    """Property 13: the total is L_cls + L_cls-dagger, the decoder is in the
    graph with zero gradients, AN does not run and nothing is queued;
    with seg_loss_upcoming AN fills the threshold queues."""
    model = _model()
    model.train()
    model.seg_loss_enabled = False
    calls = _an_calls(model)
    inputs, samples = _inputs(), _samples()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_cls_aux'}
    out = model.online(inputs[:, 3:])  # ON sees the strong view
    expected = sum(
        F.binary_cross_entropy_with_logits(out[key], _img_labels())
        for key in ('cls_score', 'cls_score_aux'))
    total, _ = model.parse_losses(losses)
    torch.testing.assert_close(total, expected)
    total.backward()
    for param in model.online.decode_head.parameters():
        assert param.grad is not None and torch.all(param.grad == 0)
    assert model.online.cam_head.classifier.weight.grad.abs().sum() > 0
    assert model.online.cam_head.classifier_aux.weight.grad.abs().sum() > 0
    assert not calls
    assert int(model.threshold.num_enqueued) == 0
    assert int(model.threshold_aux.num_enqueued) == 0

    model.seg_loss_upcoming = True
    upcoming = model.loss(inputs, samples)
    assert set(upcoming) == {'loss_cls', 'loss_cls_aux'}
    torch.testing.assert_close(model.parse_losses(upcoming)[0], expected)
    assert len(calls) == len(SCALES)  # one batched pass per scale
    assert int(model.threshold.num_enqueued) == 1
    assert int(model.threshold_aux.num_enqueued) == 1


def test_losses_after_warmup_no_gradient_into_an():
    model = _model()
    model.train()
    # were AN's parameters trainable, only no_grad would keep them clean
    model.assignment_net.requires_grad_(True)
    losses = model.loss(_inputs(), _samples())
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(value) for value in losses.values())
    total, log_vars = model.parse_losses(losses)
    assert 'cpl_fg_ratio' in log_vars and 'mean_perplexity' in log_vars
    total.backward()
    assert all(p.grad is None for p in model.assignment.parameters())
    assert all(p.grad is not None for p in model.online.parameters()
               if p.requires_grad)


def _spy_cpl(monkeypatch):
    """Record what cam_pseudo_labels returns inside CoSA.loss."""
    calls = []
    real = cosa_module.cam_pseudo_labels

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(result)
        return result

    monkeypatch.setattr(cosa_module, 'cam_pseudo_labels', spy)
    return calls


@pytest.mark.parametrize('raw_weighting', [True, False])
def test_c2s_against_the_cpl(monkeypatch, raw_weighting):
    """eq. 4-5: loss_c2s = 0.1 sum_p r_p CE_p / sum_p r_p over the labelled
    pixels, r = 1 / P (w = 1 without RAW), for both CPLs."""
    calls = _spy_cpl(monkeypatch)
    model = _model(raw_weighting=raw_weighting)
    model.train()
    inputs = _inputs()
    losses = model.loss(inputs, _samples())
    seg = _up(model.online(inputs[:, 3:])['seg']).detach()
    for key, (cpl, conf) in zip(('loss_c2s', 'loss_c2s_aux'), calls):
        labelled = cpl != 255
        assert labelled.any() and (cpl[labelled] > 0).any()
        ce = F.cross_entropy(seg, cpl, ignore_index=255, reduction='none')
        reliability = 1 / perplexity(conf, 0.5) if raw_weighting else \
            torch.ones_like(conf)
        reliability = reliability * labelled
        expected = 0.1 * (reliability * ce).sum() / reliability.sum()
        torch.testing.assert_close(losses[key].detach(), expected)


def _loss_pair(base, other):
    """The losses of two same-seeded models on the same batch."""
    results = []
    for kwargs in (base, other):
        model = _model(**kwargs)
        model.train()
        results.append({
            k: v.detach()
            for k, v in model.loss(_inputs(), _samples()).items()
        })
    return results


def test_raw_weighting_changes_c2s_only():
    raw, plain = _loss_pair(dict(), dict(raw_weighting=False))
    assert set(raw) == set(plain) == LOSS_KEYS
    for key in LOSS_KEYS:
        if key in ('loss_c2s', 'loss_c2s_aux'):
            assert not torch.allclose(raw[key], plain[key])
        else:
            torch.testing.assert_close(raw[key], plain[key])


def test_aux_c2s_reduce_mean_halves_both_c2s_terms():
    summed, mean = _loss_pair(dict(), dict(aux_c2s_reduce='mean'))
    for key in LOSS_KEYS:
        factor = 0.5 if key in ('loss_c2s', 'loss_c2s_aux') else 1.0
        torch.testing.assert_close(mean[key], factor * summed[key])


@pytest.mark.parametrize('kwargs, absent', [
    (dict(loss_s2c=None), {'loss_s2c'}),
    (dict(loss_csc=None), {'loss_csc'}),
    (dict(loss_s2c=None, loss_csc=None), {'loss_s2c', 'loss_csc'}),
])
def test_optional_losses_can_be_removed(kwargs, absent):
    model = _model(**kwargs)
    model.train()
    losses = model.loss(_inputs(), _samples())
    assert set(losses) == LOSS_KEYS - absent
    model.parse_losses(losses)[0].backward()


def _grad_sum(params):
    return sum(float(p.grad.abs().sum()) for p in params if p.grad is not None)


@pytest.mark.parametrize('detach', [None, 'features', 'classifier'])
def test_s2c_detach(detach):
    """Tab. 4a: 'features' stops loss_s2c's gradient into the encoder,
    'classifier' into W; the value is the same."""
    model = _model(s2c_detach=detach)
    model.train()
    loss = model.loss(_inputs(), _samples())['loss_s2c']
    reference = _model()
    reference.train()
    torch.testing.assert_close(
        loss, reference.loss(_inputs(), _samples())['loss_s2c'])
    loss.backward()
    to_classifier = _grad_sum([model.online.cam_head.classifier.weight])
    to_backbone = _grad_sum(model.online.backbone.parameters())
    assert (to_classifier > 0) == (detach != 'classifier')
    assert (to_backbone > 0) == (detach != 'features')
    assert _grad_sum(model.online.decode_head.parameters()) == 0


@pytest.mark.parametrize('kwargs', [
    dict(aux_c2s_reduce='max'),
    dict(s2c_detach='decoder'),
    dict(spl_tau=0.),
    dict(pseudo_scales=()),
    dict(pseudo_scales=(1.0, -0.5)),
    dict(pseudo_scales=0.5),
    # RAW needs the confidences: a loss that cannot take them is refused
    dict(loss_c2s=dict(type='FgBgBalancedCELoss')),
])
def test_bad_options_refused(kwargs):
    with pytest.raises(ValueError):
        _model(**kwargs)


def test_three_channel_training_input_refused():
    model = _model()
    with pytest.raises(ValueError, match='6 channels'):
        model.loss(_inputs(3), _samples())
    # and a 6-channel input at test time
    with pytest.raises(ValueError, match='B x 3 x H x W'):
        _predict(model, inputs=_inputs(6))
    with pytest.raises(ValueError, match='B x 3 x H x W'):
        _predict(model, inputs=_inputs(3)[0])  # no batch dimension


def test_image_labels_of_another_length_refused():
    model = _model()
    samples = _samples()
    for sample in samples:
        sample.gt_img_labels = torch.ones(NUM_CLASSES)  # one too many
    with pytest.raises(ValueError, match='foreground classes'):
        model.loss(_inputs(6), samples)


def test_code_preset_loss_without_raw():
    model = _model(
        loss_c2s=dict(type='FgBgBalancedCELoss', loss_weight=0.1),
        raw_weighting=False)
    model.seg_loss_enabled = True
    losses = model.loss(_inputs(6), _samples())
    assert torch.isfinite(losses['loss_c2s'])


def test_code_preset_dense_energy_on_the_strong_view(monkeypatch):
    """The code preset's regulariser (cosa.md 2.12) gets ON's segmentation
    logits, the strong view de-normalised to 0-255, the valid region and
    the CPL; its loss is finite."""
    model = _model(loss_reg=dict(type='DenseEnergyLoss', loss_weight=0.05))
    model.seg_loss_enabled = True
    seen = {}
    forward = model.loss_reg.forward

    def spy(seg, images, roi, label):
        seen.update(seg=seg, images=images, roi=roi, label=label)
        return forward(seg, images, roi, label)

    monkeypatch.setattr(model.loss_reg, 'forward', spy)
    calls = _spy_cpl(monkeypatch)
    images = torch.rand(2, 6, SIZE, SIZE) * 255  # weak, strong (RGB)
    mean = torch.tensor([123.675, 116.28, 103.53] * 2)[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375] * 2)[:, None, None]
    inputs = (images - mean) / std
    losses = model.loss(inputs, _samples())
    assert torch.isfinite(losses['loss_reg'])
    torch.testing.assert_close(
        seen['images'], images[:, 3:], atol=1e-3, rtol=0)
    assert seen['seg'].requires_grad
    torch.testing.assert_close(seen['seg'].detach(),
                               _up(model.online(inputs[:, 3:])['seg']))
    torch.testing.assert_close(seen['label'], calls[0][0])  # M''s CPL
    assert seen['roi'].shape == (2, SIZE, SIZE)
    assert bool(seen['roi'].all())  # no padding in these samples


def test_valid_mask_follows_img_shape(monkeypatch):
    """Pixels outside a sample's img_shape (the preprocessor's padding)
    get CPL 255, in both CPLs; the rest are labelled (single threshold)."""
    calls = _spy_cpl(monkeypatch)
    model = _model()
    model.train()
    model.loss(_inputs(), _samples(shapes=[(SIZE, SIZE), (5, 7)]))
    assert len(calls) == 2
    for cpl, _ in calls:
        assert torch.all(cpl[0] != 255)
        assert torch.all(cpl[1, :5, :7] != 255)
        assert torch.all(cpl[1, 5:] == 255) and torch.all(cpl[1, :, 7:] == 255)


@pytest.mark.parametrize('kwargs, labels, shapes', [
    (dict(), LABELS, [(1, 1), (2, 1)]),  # tiny valid boxes
    (dict(), ((0, 0, 0), (0, 0, 0)), None),  # no pixel above the threshold
    (dict(loss_csc=dict(type='ContrastiveSeparationLoss', epsilon=1e-3)),
     LABELS, None),  # P >= 0.223 > epsilon: an empty contrastive set
])
def test_degenerate_batches_give_finite_losses(kwargs, labels, shapes):
    model = _model(**kwargs)
    model.train()
    losses = model.loss(_inputs(), _samples(labels, shapes))
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(value) for value in losses.values())
    if shapes is None and labels != LABELS:
        assert float(losses['cpl_fg_ratio']) == 0
    if 'loss_csc' in kwargs:
        assert float(losses['loss_csc']) == 0
    total, _ = model.parse_losses(losses)
    total.backward()
    assert all(
        torch.isfinite(p.grad).all() for p in model.online.parameters()
        if p.grad is not None)


def _predict(model, inputs=None, samples=None, **test_cfg):
    model.test_cfg = test_cfg
    model.eval()
    inputs = _inputs(3) if inputs is None else inputs
    samples = _samples() if samples is None else samples
    with torch.no_grad():
        results = model.predict(inputs, samples)
    logits = torch.stack([r.seg_logits.data for r in results])
    preds = torch.stack([r.pred_sem_seg.data[0] for r in results])
    return logits, preds


def test_predict_uses_the_chosen_network():
    model = _model()
    with torch.no_grad():
        model.assignment_net.decode_head.conv_seg.weight.add_(0.5)
    model.eval()
    images = _inputs(3)
    outputs = {}
    for net, module in (('online', model.online),
                        ('assignment', model.assignment_net)):
        logits, _ = _predict(model, images, net=net)
        with torch.no_grad():
            torch.testing.assert_close(logits, _up(module(images)['seg']))
        outputs[net] = logits
    assert not torch.allclose(outputs['online'], outputs['assignment'])
    default, _ = _predict(model, images)
    torch.testing.assert_close(default, outputs['assignment'])


def test_mask_absent_classes():
    """GT-label masking (the paper's protocol) never predicts an absent
    class, even one every pixel would otherwise take."""
    model = _model()
    with torch.no_grad():
        for net in (model.online, model.assignment_net):
            net.decode_head.conv_seg.bias[2] = 100.  # absent from image 0
    _, unmasked = _predict(model)
    assert torch.all(unmasked == 2)
    for cfg in (dict(), dict(scales=(1.0, 0.5), flip=True)):
        _, masked = _predict(model, mask_absent_classes=True, **cfg)
        for labels, pred in zip(LABELS, masked):
            present = {0} | {c + 1 for c, y in enumerate(labels) if y}
            assert set(pred.unique().tolist()) <= present


@pytest.mark.parametrize('output', ['cam', 'cam_aux'])
def test_predict_cam_labels(output):
    """CPL quality output: background where every (masked, normalised)
    class is below bg_threshold, else the strongest class; never an absent
    class."""
    model = _model()
    images = _inputs(3)
    _, preds = _predict(
        model, images, output=output, cam_scales=(1.0, 0.5), bg_threshold=0.3)
    cams = model.multiscale_outputs(model.assignment_net, images,
                                    _img_labels(), (1.0, 0.5),
                                    with_seg=False)[output]
    peak, index = cams.max(dim=1)
    expected = torch.where(peak < 0.3, 0, index + 1)
    assert torch.equal(preds, expected)
    assert set(preds[0].unique().tolist()) <= {0, 1, 3}
    assert set(preds[1].unique().tolist()) <= {0, 2}
    assert (preds > 0).any() and (preds == 0).any()


@pytest.mark.parametrize('output', ['cam', 'cam_aux'])
def test_predict_cam_labels_at_the_tracked_threshold(output):
    """bg_threshold='tracked' thresholds each CAM at its own tracker's
    current value (a checkpoint's last CPL threshold)."""
    model = _model()
    with torch.no_grad():
        model.threshold.thresholds.fill_(0.3)
        model.threshold_aux.thresholds.fill_(0.6)
    xi = 0.3 if output == 'cam' else 0.6
    images = _inputs(3)
    _, tracked = _predict(model, images, output=output, bg_threshold='tracked')
    _, fixed = _predict(model, images, output=output, bg_threshold=xi)
    _, other = _predict(model, images, output=output, bg_threshold=0.9 - xi)
    assert torch.equal(tracked, fixed)
    assert not torch.equal(tracked, other)


def test_tracked_threshold_warns_once_when_never_fitted(monkeypatch):
    """An unfitted gmm2 tracker (e.g. a checkpoint not loaded) warns once per
    tracker and uses its initial threshold; a fixed tracker never warns."""
    logged = []
    monkeypatch.setattr(cosa_module, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    model = _model()
    images = _inputs(3)
    _, tracked = _predict(model, images, output='cam', bg_threshold='tracked')
    _, initial = _predict(model, images, output='cam', bg_threshold=0.5)
    assert torch.equal(tracked, initial)
    assert len(logged) == 1 and 'threshold was never fitted' in logged[0][0]
    assert logged[0][1]['level'] == 30  # logging.WARNING
    _predict(model, images, output='cam', bg_threshold='tracked')
    assert len(logged) == 1
    _predict(model, images, output='cam_aux', bg_threshold='tracked')
    assert len(logged) == 2 and 'threshold_aux' in logged[1][0]
    model.threshold.num_fits.fill_(1)
    model._unfitted_warned.clear()
    _predict(model, images, output='cam', bg_threshold='tracked')
    assert len(logged) == 2
    fixed = dict(type='GMMThresholdTracker', threshold_mode='fixed')
    model = _model(threshold=fixed, threshold_aux=fixed)
    _predict(model, images, output='cam', bg_threshold='tracked')
    assert len(logged) == 2


@pytest.mark.parametrize('dual_key', ['threshold', 'threshold_aux'])
def test_tracked_threshold_needs_single_thresholds(dual_key):
    """Either tracker being dual refuses 'tracked', at build and predict."""
    single = dict(type='GMMThresholdTracker', threshold_mode='fixed')
    dual = dict(single, dual_threshold=(0.2, 0.7))
    trackers = dict(threshold=single, threshold_aux=single)
    trackers[dual_key] = dual
    with pytest.raises(ValueError, match='dual'):
        _model(**trackers, test_cfg=dict(output='cam',
                                         bg_threshold='tracked'))
    model = _model(**trackers)
    with pytest.raises(ValueError, match='dual'):
        _predict(model, output='cam', bg_threshold='tracked')


def test_predict_scales_and_flip():
    """Test-time views: B x C x H x W logits, and with flips the prediction
    of flip(x) is the flip of the prediction of x."""
    model = _model()
    images = _inputs(3)
    cfg = dict(scales=(1.0, 0.5, 1.5), flip=True)
    logits, _ = _predict(model, images, **cfg)
    assert logits.shape == (2, NUM_CLASSES, SIZE, SIZE)
    flipped, _ = _predict(model, images.flip(3), **cfg)
    torch.testing.assert_close(flipped, logits.flip(3), atol=1e-5, rtol=1e-5)
    single, _ = _predict(model, images)
    assert not torch.allclose(single, logits)


def test_predict_sums_view_logits_into_the_crf(monkeypatch):
    """The paper sums the test views' logits (cosa.md 1.3) and the code's
    CRF takes softmax of that sum (2.14): 6 views give 6 x their mean."""
    model = _model()
    images = _inputs(3)
    cfg = dict(scales=(1.0, 0.5, 1.5), flip=True)
    summed, _ = _predict(model, images, **cfg)
    model.test_cfg = cfg
    views = model.tta_logits(images, model._img_metas(images, _samples()),
                             cfg['scales'], True, 'logit')
    torch.testing.assert_close(summed, 6 * views)
    seen = []
    monkeypatch.setattr(
        cosa_module.TestTimeAugMixin, '_apply_crf',
        lambda self, result, crf: seen.append(
            (result.seg_logits.data.clone(), crf)))
    _predict(model, images, crf=True, **cfg)
    torch.testing.assert_close(torch.stack([s[0] for s in seen]), summed)
    assert all(s[1] == cosa_module.COSA_CRF for s in seen)
    # merge='prob' averages probabilities: log of the mean, not scaled
    prob, _ = _predict(model, images, merge='prob', **cfg)
    torch.testing.assert_close(
        prob,
        model.tta_logits(images, model._img_metas(images, _samples()),
                         cfg['scales'], True, 'prob'))


@pytest.mark.parametrize('test_cfg', [
    dict(resize=(448, 448)),
    dict(net='student'),
    dict(output='mask'),
    dict(scales=()),
    dict(scales=1.0),
    dict(scales=(1.0, 0.)),
    dict(cam_scales=(-1.0, )),
    dict(merge='max'),
    dict(mode='slide'),
    dict(flip='yes'),
    dict(mask_absent_classes='no'),
    dict(bg_threshold=2.0),
    dict(bg_threshold='x'),
])
def test_bad_test_cfg_refused_at_build_and_predict(test_cfg):
    with pytest.raises(ValueError):
        _model(test_cfg=test_cfg)
    model = _model()
    with pytest.raises(ValueError):
        _predict(model, **test_cfg)


def test_array_bg_threshold_gets_our_error():
    """An array is neither a number nor 'tracked': our message, not numpy's
    ambiguous truth value."""
    bad = dict(output='cam', bg_threshold=np.array([0.3, 0.5]))
    with pytest.raises(ValueError, match='bg_threshold must be'):
        _model(test_cfg=bad)
    with pytest.raises(ValueError, match='bg_threshold must be'):
        _predict(_model(), **bad)


def test_cam_output_needs_image_labels():
    model = _model()
    with pytest.raises(ValueError, match='gt_img_labels'):
        model.test_cfg = dict(output='cam')
        model.predict(_inputs(3), None)
    with pytest.raises(ValueError, match='gt_img_labels'):
        model.test_cfg = dict(mask_absent_classes=True)
        model.predict(_inputs(3), None)
    with pytest.raises(KeyError, match='gt_img_labels'):
        _predict(model, samples=_samples(with_labels=False), output='cam')


def test_vitb16_config_parameter_count():
    """Property 1 on the segmentor of the ViT-B/16 config: ON's trainable
    parameters are 91,587,072 (pos_embed frozen); AN is frozen."""
    cfg = Config.fromfile(VIT_CONFIG)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    trainable = sum(p.numel() for p in model.online.parameters()
                    if p.requires_grad)
    assert model.online.backbone.pos_embed.requires_grad is False
    assert all(not p.requires_grad
               for p in model.assignment.parameters())
    assert all(not p.requires_grad
               for name, p in model.named_parameters()
               if name.startswith('assignment.'))
    assert trainable == 91_587_072
