import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine import ConfigDict
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import mmseg_wsss  # noqa: F401  (registers AuxSegNet and its parts)

K = 21
DECODE_TERMS = {
    'decode.loss_seg', 'decode.loss_seg_pair', 'decode.loss_seg_unary',
    'decode.loss_sal', 'decode.loss_sal_pair', 'decode.loss_sal_unary'
}
# a stock ResNet-18 a few channels wide, output stride 8: fast on a CPU
TINY_BACKBONE = dict(
    type='ResNetV1c',
    depth=18,
    stem_channels=8,
    base_channels=4,
    out_indices=(3, ),
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4))
TINY_CHANNELS = 32


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _cfg(backbone=TINY_BACKBONE,
         in_channels=TINY_CHANNELS,
         train_cfg=dict(stage='full'),
         test_cfg=dict(mode='whole'),
         aux=True,
         **head):
    decode_head = dict(
        type='DualAffinityHead',
        in_channels=in_channels,
        in_index=0,
        channels=8,
        num_classes=K,
        dilations=(1, 2),
        post_dilation=3,
        dropout_ratio=0.,
        loss_decode=dict(
            type='CrossEntropyLoss', avg_non_ignore=True,
            loss_name='loss_seg'))
    decode_head.update(head)
    cfg = dict(
        type='AuxSegNet',
        data_preprocessor=dict(
            type='WSSSDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            seg_pad_val=255),
        backbone=backbone,
        decode_head=decode_head,
        train_cfg=train_cfg,
        test_cfg=test_cfg)
    if aux:
        cfg['auxiliary_head'] = dict(
            type='CAMHead',
            in_channels=in_channels,
            in_index=0,
            num_classes=K,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=True,
                loss_name='loss_cls'))
    return ConfigDict(cfg)


def _model(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(_cfg(**kwargs))


def _inputs(batch, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=gen)




def _terms(losses):
    return {k for k in losses if 'loss' in k}


def _unused(module):
    return [
        name for name, p in module.named_parameters()
        if p.requires_grad and p.grad is None
    ]


# --------------------------------------------------------------------------
# WideResNet-38 (the paper's backbone), K = 21, input 2 x 3 x 65 x 65


@pytest.fixture(scope='module')
def wrn_model():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(
        _cfg(
            backbone=dict(
                type='WideResNet38',
                out_indices=(4, ),
                norm_eval=True,
                frozen_bn_params=True),
            in_channels=4096))
    return model


def test_wrn38_shapes_and_predict(wrn_model, wsss_samples):
    model = wrn_model.eval()
    inputs = _inputs(2, 65)
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        assert len(feats) == 1 and feats[0].shape == (2, 4096, 9, 9)
        cam = model.auxiliary_head.cam(feats)
        assert cam.shape == (2, 20, 9, 9)
        assert model.auxiliary_head(feats).shape == (2, 20)
        outs = model.decode_head(feats)
        assert outs['seg_pair'].shape == (2, K, 9, 9)
        assert outs['seg_unary'].shape == (2, K, 9, 9)
        assert outs['sal_pair'].shape == (2, 1, 9, 9)
        assert outs['affinity'].shape == (2, 81, 81)
        assert outs['unary'].shape == (2, 81)
        results = model.predict(inputs, wsss_samples(2, 65, with_pixels=False))
    assert len(results) == 2
    for result in results:
        assert result.seg_logits.data.shape == (K, 65, 65)
        assert result.pred_sem_seg.data.shape == (1, 65, 65)
        assert result.pred_sem_seg.data.dtype == torch.int64
        assert result.pred_sem_seg.data.max() < K


def test_wrn38_label_outputs_deterministic_in_eval(wrn_model):
    model = wrn_model.eval()
    inputs = _inputs(1, 33, seed=1)
    with torch.no_grad():
        first = model.label_outputs(inputs)
        second = model.label_outputs(inputs)
        assert set(first) == {'cam', 'affinity', 'sal', 'seg'}
        assert first['cam'].shape == (1, 20, 5, 5)
        assert first['affinity'].shape == (1, 25, 25)
        assert first['sal'].shape == (1, 1, 5, 5)
        assert first['seg'].shape == (1, K, 5, 5)
        for key in first:
            assert torch.equal(first[key], second[key]), key
        # the backbone's Dropout2d is active in train mode: there the
        # outputs would differ, so eval mode is what makes them repeatable
        model.train()
        noisy = model.label_outputs(inputs)
        model.eval()
    assert not torch.equal(noisy['cam'], first['cam'])


def test_wrn38_frozen_bn_after_optimizer_step(wrn_model, wsss_samples):
    model = wrn_model
    model.train()
    bns = {
        name: m
        for name, m in model.backbone.named_modules()
        if isinstance(m, _BatchNorm)
    }
    assert bns and all(not m.training for m in bns.values())
    assert all(not p.requires_grad for m in bns.values()
               for p in m.parameters())
    before = {
        name: copy.deepcopy(m.state_dict())
        for name, m in bns.items()
    }
    conv_before = model.backbone.b7.conv_branch2b2.weight.detach().clone()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1., momentum=0.9, weight_decay=0.1)
    optimizer.zero_grad()
    losses = model.loss(_inputs(1, 33, seed=2), wsss_samples(1, 33, seed=2))
    assert _terms(losses) == DECODE_TERMS | {'aux.loss_cls'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    optimizer.step()
    # the step did train the backbone ...
    assert not torch.equal(model.backbone.b7.conv_branch2b2.weight,
                           conv_before)
    # ... but no BN statistic or affine parameter moved
    for name, m in bns.items():
        for key, value in m.state_dict().items():
            assert torch.equal(value, before[name][key]), f'{name}.{key}'
    optimizer.zero_grad(set_to_none=True)
    model.eval()


# --------------------------------------------------------------------------
# tiny backbone


def test_stage_cls_trains_the_classifier_only(wsss_samples):
    model = _model(train_cfg=dict(stage='cls'))
    assert model.stage == 'cls'
    model.train()
    # phase (a) needs image labels only: no pseudo labels, no saliency
    losses = model.loss(_inputs(2, 33), wsss_samples(2, 33, with_pixels=False))
    assert all(k.startswith('aux.') for k in losses)
    assert _terms(losses) == {'aux.loss_cls'}
    losses['aux.loss_cls'].backward()
    head_params = list(model.decode_head.parameters())
    assert head_params and all(p.grad is None for p in head_params)
    assert all(p.grad is not None
               for p in model.auxiliary_head.parameters())
    assert model.backbone.layer4[0].conv1.weight.grad is not None


@pytest.mark.parametrize('mode, terms', [
    ('dual', DECODE_TERMS),
    ('pairwise', {
        'decode.loss_seg', 'decode.loss_seg_pair', 'decode.loss_sal',
        'decode.loss_sal_pair'
    }),
])
def test_stage_full_losses_and_gradients(mode, terms, wsss_samples):
    model = _model(affinity_mode=mode)
    assert model.stage == 'full'
    model.train()
    losses = model.loss(_inputs(2, 33), wsss_samples(2, 33))
    assert _terms(losses) == terms | {'aux.loss_cls'}
    assert 'decode.acc_seg' in losses
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    # DDP-safe: every trainable parameter of the model has a gradient
    assert not _unused(model)


def test_stage_defaults_and_errors():
    assert _model(train_cfg=dict()).stage == 'full'
    # mmseg.apis.init_model builds models with train_cfg=None
    assert _model(train_cfg=None).stage == 'full'
    with pytest.raises(ValueError, match='stage'):
        _model(train_cfg=dict(stage='seg'))
    with pytest.raises(ValueError, match='auxiliary_head'):
        _model(train_cfg=dict(stage='cls'), aux=False)


def test_predict_single_scale_is_refined_segmentation(wsss_samples):
    model = _model().eval()
    inputs = _inputs(2, 33, seed=3)
    with torch.no_grad():
        results = model.predict(inputs, wsss_samples(2, 33, with_pixels=False))
        outs = model.decode_head(model.extract_feat(inputs))
    expected = F.interpolate(
        outs['seg_pair'], (33, 33), mode='bilinear', align_corners=False)
    for i, result in enumerate(results):
        torch.testing.assert_close(result.seg_logits.data, expected[i])
        assert torch.equal(result.pred_sem_seg.data[0],
                           expected[i].argmax(0))


def test_predict_multiscale_flip_shapes(wsss_samples):
    model = _model(test_cfg=dict(mode='whole', scales=(1.0, 0.5),
                                 flip=True)).eval()
    with torch.no_grad():
        results = model.predict(
            _inputs(2, 33, seed=4), wsss_samples(2, 33, with_pixels=False))
        # without data samples (the stock default metas)
        bare = model.predict(_inputs(2, 33, seed=4))
    for result in results + bare:
        assert result.seg_logits.data.shape == (K, 33, 33)
        assert result.pred_sem_seg.data.shape == (1, 33, 33)
        # log of an average of probabilities
        torch.testing.assert_close(
            result.seg_logits.data.exp().sum(0), torch.ones(33, 33))
    torch.testing.assert_close(results[0].seg_logits.data,
                               bare[0].seg_logits.data)


def test_tta_averages_flipped_and_scaled_probabilities(wsss_samples):
    model = _model().eval()
    inputs = _inputs(1, 33, seed=5)
    metas = [s.metainfo for s in wsss_samples(1, 33, with_pixels=False)]
    with torch.no_grad():
        tta = model.tta_logits(inputs, metas, (1.0, 0.5), True)
        views = []
        for size in (33, round(33 * 0.5)):
            x = F.interpolate(
                inputs, (size, size), mode='bilinear', align_corners=False)
            # a torch.Size img_shape takes precedence over pad_shape in
            # BaseDecodeHead.predict_by_feat (as in tta_logits)
            scaled_metas = [dict(m, img_shape=x.shape[2:]) for m in metas]
            for flip in (False, True):
                view = x.flip(3) if flip else x
                logits = model.inference(view, scaled_metas)
                assert logits.shape[2:] == (size, size)
                if flip:
                    logits = logits.flip(3)
                logits = F.interpolate(
                    logits, (33, 33), mode='bilinear', align_corners=False)
                views.append(logits.softmax(1))
    expected = torch.stack(views).mean(0).log()
    torch.testing.assert_close(tta, expected, rtol=1e-4, atol=1e-5)


def test_tta_runs_one_forward_per_scale(wsss_samples):
    model = _model(test_cfg=dict(mode='whole', scales=(1.0, 0.5),
                                 flip=True)).eval()
    shapes = []
    inference = model.inference

    def counted(inputs, batch_img_metas):
        shapes.append(tuple(inputs.shape))
        assert len(batch_img_metas) == inputs.shape[0]
        return inference(inputs, batch_img_metas)

    model.inference = counted
    with torch.no_grad():
        model.predict(_inputs(2, 33, seed=4),
                      wsss_samples(2, 33, with_pixels=False))
    # the flipped copies go through in the same batch
    assert shapes == [(4, 3, 33, 33), (4, 3, 16, 16)]


@pytest.mark.parametrize('affinity_mode', ['dual', 'none'])
def test_label_outputs(affinity_mode):
    model = _model(affinity_mode=affinity_mode).eval()
    inputs = _inputs(2, 33, seed=6)
    with torch.no_grad():
        out = model.label_outputs(inputs)
        again = model.label_outputs(inputs)
        feats = model.extract_feat(inputs)
        outs = model.decode_head(feats)
        cam_only = model.label_outputs(inputs, with_decode=False)
    assert set(cam_only) == {'cam'}
    assert out['cam'].shape == (2, K - 1, 5, 5)
    torch.testing.assert_close(out['cam'], model.auxiliary_head.cam(feats))
    torch.testing.assert_close(cam_only['cam'], out['cam'])
    assert out['sal'].shape == (2, 1, 5, 5)
    assert out['seg'].shape == (2, K, 5, 5)
    if affinity_mode == 'none':
        assert set(out) == {'cam', 'sal', 'seg'}
        torch.testing.assert_close(out['sal'], outs['sal'])
        torch.testing.assert_close(out['seg'], outs['seg'])
    else:
        assert set(out) == {'cam', 'affinity', 'sal', 'seg'}
        assert out['affinity'].shape == (2, 25, 25)
        torch.testing.assert_close(out['affinity'], outs['affinity'])
        # the pairwise-refined saliency and segmentation, not the initial
        torch.testing.assert_close(out['sal'], outs['sal_pair'])
        torch.testing.assert_close(out['seg'], outs['seg_pair'])
        assert not torch.allclose(out['seg'], outs['seg'])
    for key in out:
        assert torch.equal(out[key], again[key]), key


def test_train_step_through_data_preprocessor(wsss_samples):
    """A full training iteration with padding to the batch size."""
    model = _model()
    model.data_preprocessor.size = (40, 40)
    gen = torch.Generator().manual_seed(7)
    samples = wsss_samples(2, 33, seed=7)
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 33, 33), generator=gen).byte()
            for _ in range(2)
        ],
        data_samples=samples)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    model.train()
    log_vars = model.train_step(data, wrapper)
    assert {k for k in log_vars if 'loss' in k} >= DECODE_TERMS
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
