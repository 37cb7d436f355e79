import io
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmengine import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_wsss  # noqa: F401  (registers the heads, losses, ASPPHead)
from mmseg_wsss.models.decode_heads.dual_affinity_head import \
    DualAffinityHead
from mmseg_wsss.models.decode_heads.stock_head_features import (
    FeatureTap, StockHeadFeatures)
from mmseg_wsss.models.utils.affinity import propagate

K = 21
IN, CH, HW = 16, 8, 9
N = HW * HW
SEG_KEYS = {'loss_seg', 'loss_seg_pair', 'loss_seg_unary'}
SAL_KEYS = {'loss_sal', 'loss_sal_pair', 'loss_sal_unary'}
CE = dict(type='CrossEntropyLoss', avg_non_ignore=True)


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _head(**kwargs):
    torch.manual_seed(0)
    cfg = dict(
        in_channels=IN,
        channels=CH,
        num_classes=K,
        dilations=(1, 2),
        post_dilation=3,
        dropout_ratio=0.,
        loss_decode=dict(CE, loss_name='loss_seg'))
    cfg.update(kwargs)
    return DualAffinityHead(**cfg)


def _inputs(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, IN, HW, HW, generator=gen), )


def _samples(batch=2, size=HW, with_sal=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(batch):
        sample = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        seg = torch.randint(0, K, (1, size, size), generator=gen)
        seg[0, 0, :3] = 255
        sample.gt_sem_seg = PixelData(data=seg)
        if with_sal:
            sal = torch.randint(0, 2, (1, size, size), generator=gen)
            sal[0, -2:, :] = 255
            sample.gt_saliency = PixelData(data=sal.to(torch.uint8))
        samples.append(sample)
    return samples


def _loss_terms(losses):
    return {k for k in losses if k.startswith('loss')}


def _without_gradient(module, prefix='', dead=()):
    """Trainable parameters (names starting with ``prefix``) without
    gradient, or whose gradient is zero up to the rounding noise a parameter
    the loss does not depend on may get (the losses are computed in double
    precision). Names ending in ``dead`` only need a gradient."""
    return [
        name for name, p in module.named_parameters()
        if p.requires_grad and name.startswith(prefix) and (
            p.grad is None or p.grad.abs().max() < 1e-12
            and not name.endswith(dead))
    ]


def _backward_in_double(head, inputs, samples):
    """Loss terms of ``head`` (cast to double) and their backward."""
    head.double()
    losses = head.loss(tuple(x.double() for x in inputs), samples,
                       ConfigDict())
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return losses


def test_forward_shapes_dual():
    head = _head().eval()
    outs = head(_inputs())
    for key in ('seg', 'seg_pair', 'seg_unary'):
        assert outs[key].shape == (2, K, HW, HW), key
    for key in ('sal', 'sal_pair', 'sal_unary'):
        assert outs[key].shape == (2, 1, HW, HW), key
    assert outs['affinity'].shape == (2, N, N)
    assert outs['unary'].shape == (2, N)
    torch.testing.assert_close(outs['unary'].sum(1), torch.ones(2), rtol=0,
                               atol=1e-5)
    # the classifiers are bias-free
    assert head.conv_seg.bias is None and head.sal_cls.bias is None
    assert head.conv_seg.out_channels == K and head.sal_cls.out_channels == 1


def test_refined_predictions_follow_eq_14_to_17():
    head = _head().eval()
    outs = head(_inputs(seed=1))
    aff, u = outs['affinity'], outs['unary']
    for task in ('seg', 'sal'):
        s = outs[task]
        torch.testing.assert_close(outs[f'{task}_pair'], propagate(aff, s))
        offset = torch.einsum('bn,bcn->bc', u, s.flatten(2))
        torch.testing.assert_close(outs[f'{task}_unary'],
                                   s + offset[..., None, None])


def test_predict_returns_refined_segmentation():
    head = _head().eval()
    inputs = _inputs(seed=2)
    metas = [dict(img_shape=(33, 33), ori_shape=(33, 33))] * 2
    logits = head.predict(inputs, metas, ConfigDict(mode='whole'))
    assert logits.shape == (2, K, 33, 33)
    outs = head(inputs)
    expected = F.interpolate(
        outs['seg_pair'], (33, 33), mode='bilinear', align_corners=False)
    torch.testing.assert_close(logits, expected)
    plain = _head(affinity_mode='none').eval()
    expected = F.interpolate(
        plain(inputs)['seg'], (33, 33), mode='bilinear', align_corners=False)
    torch.testing.assert_close(plain.predict(inputs, metas, None), expected)


def test_predict_output_option():
    head = _head().eval()
    inputs = _inputs(seed=2)
    metas = [dict(img_shape=(HW, HW), ori_shape=(HW, HW))] * 2
    outs = head(inputs)
    for key in ('seg', 'seg_pair', 'seg_unary'):
        torch.testing.assert_close(
            head.predict(inputs, metas, ConfigDict(output=key)), outs[key])
    with pytest.raises(KeyError, match=r"output='sal'.*'seg_unary'"):
        head.predict(inputs, metas, ConfigDict(output='sal'))
    plain = _head(affinity_mode='none').eval()
    with pytest.raises(KeyError, match="output='seg_pair'"):
        plain.predict(inputs, metas, ConfigDict(output='seg_pair'))


@pytest.mark.parametrize(
    'kwargs, expected',
    [
        (dict(), SEG_KEYS | SAL_KEYS),
        (dict(affinity_mode='pairwise'),
         {'loss_seg', 'loss_seg_pair', 'loss_sal', 'loss_sal_pair'}),
        (dict(affinity_mode='none'), {'loss_seg', 'loss_sal'}),
        (dict(refine_targets=('seg', )), SEG_KEYS | {'loss_sal'}),
        (dict(unary_refine='none'),
         {'loss_seg', 'loss_seg_pair', 'loss_sal', 'loss_sal_pair'}),
        (dict(affinity_source='seg'), SEG_KEYS | SAL_KEYS),
        (dict(
            use_sal_branch=False,
            affinity_source='seg',
            refine_targets=('seg', )), SEG_KEYS),
        (dict(use_sal_branch=False, affinity_mode='none'), {'loss_seg'}),
        (dict(norm_cfg=dict(type='BN')), SEG_KEYS | SAL_KEYS),
    ])
def test_loss_terms_and_no_unused_parameters(kwargs, expected):
    head = _head(**kwargs)
    head.init_weights()
    with_sal = kwargs.get('use_sal_branch', True)
    losses = _backward_in_double(head, _inputs(),
                                 _samples(size=18, with_sal=with_sal))
    assert _loss_terms(losses) == expected
    assert 'acc_seg' in losses
    # every trainable parameter takes part in the loss (DDP without
    # find_unused_parameters), none only through rounding noise
    assert not _without_gradient(head)


def test_unary_refine_none_builds_no_unary_fusion():
    head = _head(unary_refine='none').eval()
    # the task-specific unary affinities still enhance the features ...
    assert set(head.affinity.unary) == {'seg', 'sal'}
    # ... but nothing would use u_ct
    assert not [n for n in head.state_dict() if 'fusion_unary' in n]
    outs = head(_inputs())
    assert 'unary' not in outs
    assert not [k for k in outs if k.endswith('_unary')]


def test_seg_only_ablation_has_no_saliency_parameters():
    head = _head(
        use_sal_branch=False, affinity_source='seg',
        refine_targets=('seg', )).eval()
    assert not [n for n in head.state_dict() if 'sal' in n]
    assert not [n for n in head.state_dict() if 'fusion' in n]
    outs = head(_inputs())
    assert set(outs) == {'seg', 'seg_pair', 'seg_unary', 'affinity', 'unary'}
    # the segmentation task's own affinity: rows sum to 1
    torch.testing.assert_close(
        outs['affinity'].sum(2), torch.ones(2, N), rtol=0, atol=1e-5)


def test_cross_affinity_is_fused_and_not_renormalised():
    head = _head().eval()
    aff = head(_inputs(seed=3))['affinity']
    rows = aff.sum(2)
    assert torch.all(rows > 0) and torch.all(rows < 2)
    renorm = _head(renorm_cross_affinity=True).eval()
    aff = renorm(_inputs(seed=3))['affinity']
    torch.testing.assert_close(aff.sum(2), torch.ones(2, N), rtol=0,
                               atol=1e-5)


@pytest.mark.parametrize('kwargs, match', [
    (dict(affinity_mode='triple'), 'affinity_mode'),
    (dict(affinity_source='sal'), 'affinity_source'),
    (dict(unary_refine='broadcast'), 'unary_refine'),
    (dict(refine_targets=('seg', 'edge')), 'refine_targets'),
    (dict(use_sal_branch=False), 'saliency'),
    (dict(use_sal_branch=False, affinity_source='seg'), 'saliency'),
    (dict(use_sal_branch=False, refine_targets=('seg', )), 'saliency'),
    (dict(loss_decode=dict(CE, loss_name='loss_sal')), 'loss_sal'),
])
def test_inconsistent_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _head(**kwargs)


def test_saliency_bce_ignores_255():
    head = _head(affinity_mode='none')
    gen = torch.Generator().manual_seed(4)
    samples = _samples(size=HW, seed=4)
    label = torch.stack([s.gt_saliency.data[0] for s in samples])
    ignored = label == 255
    assert ignored.any() and (~ignored).any()
    outs = dict(
        seg=torch.randn(2, K, HW, HW, generator=gen),
        sal=torch.randn(2, 1, HW, HW, generator=gen))
    loss = head.loss_by_feat(outs, samples)['loss_sal']
    # mean BCE over the valid pixels only
    valid = ~ignored
    expected = F.binary_cross_entropy_with_logits(outs['sal'][:, 0][valid],
                                                  label[valid].float())
    torch.testing.assert_close(loss, expected)
    changed = outs['sal'].clone()
    changed[:, 0][ignored] = 100.
    same = head.loss_by_feat(dict(outs, sal=changed), samples)['loss_sal']
    torch.testing.assert_close(same, loss, rtol=0, atol=0)
    changed = outs['sal'].clone()
    changed[:, 0][valid] += 1.
    other = head.loss_by_feat(dict(outs, sal=changed), samples)['loss_sal']
    assert not torch.allclose(other, loss)


def test_seg_loss_ignores_255_and_is_ce():
    head = _head(affinity_mode='none')
    gen = torch.Generator().manual_seed(5)
    samples = _samples(size=HW, seed=5)
    outs = dict(
        seg=torch.randn(2, K, HW, HW, generator=gen),
        sal=torch.randn(2, 1, HW, HW, generator=gen))
    label = torch.stack([s.gt_sem_seg.data[0] for s in samples])
    expected = F.cross_entropy(outs['seg'], label, ignore_index=255)
    torch.testing.assert_close(
        head.loss_by_feat(outs, samples)['loss_seg'], expected)


def test_each_loss_term_logs_its_own_name():
    lovasz = dict(
        type='LovaszLoss', reduction='none', loss_name='loss_lovasz')
    head = _head(
        loss_decode=[dict(CE, loss_name='loss_ce'), lovasz],
        loss_sal=[
            dict(type='CrossEntropyLoss', use_sigmoid=True,
                 avg_non_ignore=True, loss_name='loss_sal'),
            dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.,
                 avg_non_ignore=True, loss_name='loss_sal_x2')
        ])
    samples = _samples(size=18, seed=6)
    outs = head(_inputs(seed=6))
    losses = head.loss_by_feat(outs, samples)
    assert _loss_terms(losses) == {
        name + suffix
        for name in ('loss_ce', 'loss_lovasz', 'loss_sal', 'loss_sal_x2')
        for suffix in ('', '_pair', '_unary')
    }
    label = torch.stack([s.gt_sem_seg.data[0] for s in samples])
    lovasz_loss = MODELS.build(lovasz)
    for suffix in ('', '_pair', '_unary'):
        logits = F.interpolate(
            outs['seg' + suffix], (18, 18), mode='bilinear',
            align_corners=False)
        torch.testing.assert_close(
            losses['loss_ce' + suffix],
            F.cross_entropy(logits, label, ignore_index=255))
        torch.testing.assert_close(
            losses['loss_lovasz' + suffix],
            lovasz_loss(logits, label, ignore_index=255))
        torch.testing.assert_close(losses['loss_sal_x2' + suffix],
                                   2 * losses['loss_sal' + suffix])


def test_sampler_weights_the_seg_losses():
    sampler = dict(type='OHEMPixelSampler', thresh=0.05, min_kept=100)
    head = _head(sampler=sampler, unary_refine='none')
    plain = _head(unary_refine='none')
    samples = _samples(size=18, seed=7)
    outs = head(_inputs(seed=7))
    losses = head.loss_by_feat(outs, samples)
    unweighted = plain.loss_by_feat(outs, samples)
    label = torch.stack([s.gt_sem_seg.data for s in samples])
    for key in ('seg', 'seg_pair'):
        logits = F.interpolate(
            outs[key], (18, 18), mode='bilinear', align_corners=False)
        weight = head.sampler.sample(logits, label)
        assert 0 < weight.sum() < (label != 255).sum()
        name = 'loss_' + key
        expected = head.loss_decode(
            logits, label[:, 0], weight=weight, ignore_index=255)
        torch.testing.assert_close(losses[name], expected)
        assert not torch.allclose(losses[name], unweighted[name])
    # the saliency terms are not sampled
    torch.testing.assert_close(losses['loss_sal_pair'],
                               unweighted['loss_sal_pair'])


def test_convs_follow_conv_norm_act_cfg():
    head = _head(
        conv_cfg=dict(type='Conv2dAdaptivePadding'),
        norm_cfg=dict(type='GN', num_groups=2),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.2))
    for task in ('seg', 'sal'):
        convs = list(head.branches[task]) + [head.post_convs[task]]
        assert len(convs) == 3
        for module, dilation in zip(convs, (1, 2, 3)):
            assert isinstance(module, ConvModule)
            assert isinstance(module.conv, Conv2dAdaptivePadding)
            assert module.conv.dilation == (dilation, dilation)
            assert module.conv.bias is None  # followed by a norm layer
            assert isinstance(module.norm, nn.GroupNorm)
            assert isinstance(module.activate, nn.LeakyReLU)
            assert module.activate.negative_slope == 0.2
    _backward_in_double(head, _inputs(), _samples(size=18))
    assert not _without_gradient(head)
    # the default: the official code's conv + bias + ReLU, no norm layer
    default = _head()
    for module in list(default.branches['seg']) + [default.post_convs['seg']]:
        assert not module.with_norm and module.conv.bias is not None
        assert isinstance(module.activate, nn.ReLU)


def test_state_dict_keys():
    head = _head()
    per_task = [
        'branches.{}.0.conv.weight', 'branches.{}.0.conv.bias',
        'branches.{}.1.conv.weight', 'branches.{}.1.conv.bias',
        'post_convs.{}.conv.weight', 'post_convs.{}.conv.bias',
        'affinity.pairwise.{}.query.weight', 'affinity.pairwise.{}.query.bias',
        'affinity.pairwise.{}.key.weight', 'affinity.pairwise.{}.value.weight',
        'affinity.pairwise.{}.value.bias', 'affinity.proj.{}.weight',
        'affinity.proj.{}.bias', 'affinity.unary.{}.score.weight'
    ]
    fusion = [
        f'affinity.fusion_{kind}.{name}' for kind in ('pair', 'unary')
        for name in ('conv1.weight', 'conv2.weight', 'conv2.bias')
    ]
    assert set(head.state_dict()) == {
        key.format(task)
        for key in per_task for task in ('seg', 'sal')
    } | set(fusion) | {'conv_seg.weight', 'sal_cls.weight'}
    assert isinstance(head.branches, nn.ModuleDict)
    assert isinstance(head.post_convs, nn.ModuleDict)


def test_state_dict_round_trip():
    head = _head(norm_cfg=dict(type='BN')).eval()
    head.init_weights()
    buffer = io.BytesIO()
    torch.save(head.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)
    loaded = DualAffinityHead(
        in_channels=IN, channels=CH, num_classes=K, dilations=(1, 2),
        post_dilation=3, norm_cfg=dict(type='BN')).eval()
    loaded.load_state_dict(torch.load(buffer), strict=True)
    inputs = _inputs(seed=8)
    for key, value in head(inputs).items():
        torch.testing.assert_close(loaded(inputs)[key], value)


def _xavier_bound(conv):
    fan_in = conv.in_channels * math.prod(conv.kernel_size)
    fan_out = conv.out_channels * math.prod(conv.kernel_size)
    return math.sqrt(6 / (fan_in + fan_out))


def test_init_weights_follows_init_cfg():
    head = _head()
    assert head.init_cfg == dict(
        type='Xavier', layer='Conv2d', distribution='uniform')
    head.init_weights()
    xavier = [head.conv_seg, head.sal_cls] + [
        m.conv for task in ('seg', 'sal')
        for m in list(head.branches[task]) + [head.post_convs[task]]
    ]
    for conv in xavier:
        bound = _xavier_bound(conv)
        assert conv.weight.abs().max() <= bound
        assert conv.weight.abs().max() > 0.8 * bound
        assert conv.bias is None or not conv.bias.any()
    # the affinity convs: PyTorch's default weight init (official code),
    # whose bound 1 / sqrt(fan_in) is well below Xavier's
    for conv in (head.affinity.pairwise['seg'].key, head.affinity.proj['sal']):
        bound = 1 / math.sqrt(conv.in_channels)
        assert bound < 0.7 * _xavier_bound(conv)
        assert bound * 0.8 < conv.weight.abs().max() <= bound
    # a user init_cfg reaches the head's layers
    constant = _head(init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))
    constant.init_weights()
    for conv in (constant.conv_seg, constant.branches['seg'][0].conv):
        assert torch.all(conv.weight == 0.5)


# --------------------------------------------------------------------------
# stock mmseg heads as branches: their own forward up to the classifier

MULTI_CHANNELS = (4, 8, 16, 16)
MULTI_SIZES = (12, 6, 6, 6)
STOCK_HEADS = {
    'FCNHead': dict(num_convs=2, concat_input=True),
    'ASPPHead': dict(dilations=(1, 2)),
    'PSPHead': dict(pool_scales=(1, 2, 3)),
    'UPerHead': dict(
        in_channels=list(MULTI_CHANNELS), in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3)),
    'NLHead': dict(),
    'DNLHead': dict(),
    'GCHead': dict(),
    'DepthwiseSeparableASPPHead': dict(
        dilations=(1, 2), c1_in_channels=4, c1_channels=4),
    'SegformerHead': dict(
        in_channels=list(MULTI_CHANNELS), in_index=[0, 1, 2, 3]),
    # applies self.dropout in its own forward
    'ANNHead': dict(
        in_channels=[16, 16], in_index=[2, 3], project_channels=4,
        query_scales=(1, ), key_pool_scales=(1, 3)),
}


# biases of the stock blocks that the loss cannot depend on: a key bias
# (per-query constant) or a score bias (constant over positions) before a
# softmax, and the biases the disentangled non-local block whitens away
STOCK_DEAD = {
    'NLHead': ('nl_block.phi.conv.bias', ),
    'DNLHead': ('dnl_block.theta.conv.bias', 'dnl_block.phi.conv.bias',
                'dnl_block.conv_mask.bias'),
    'GCHead': ('gc_block.conv_mask.bias', ),
}


def _multi_level_inputs(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, c, s, s, generator=gen)
        for c, s in zip(MULTI_CHANNELS, MULTI_SIZES))


def _stock_branch_head(type_, **branch):
    return _head(
        in_index=3,
        branch=dict(type=type_, channels=CH, **branch),
        affinity_channels=4)


@pytest.mark.parametrize('type_', sorted(STOCK_HEADS))
def test_stock_head_branch_trains_its_own_modules(type_):
    head = _stock_branch_head(type_, **STOCK_HEADS[type_])
    head.init_weights()
    stock = head.branches['seg'][0].head
    assert type(stock).__name__ == type_
    assert isinstance(stock.conv_seg, FeatureTap)
    assert head.branches['sal'][0].head is not stock
    inputs = _multi_level_inputs()
    size = 2 * max(head(inputs)['seg'].shape[2:])
    losses = _backward_in_double(head, inputs, _samples(size=size))
    assert _loss_terms(losses) == SEG_KEYS | SAL_KEYS
    # every parameter of the wrapped heads (non-local, PPM, FPN, c1 and
    # separable bottlenecks, ...) is in the path
    assert not _without_gradient(
        head, prefix='branches.', dead=STOCK_DEAD.get(type_, ()))
    assert isinstance(stock.dropout, nn.Identity)
    assert not [n for n in head.state_dict() if 'conv_seg' in n
                and n.startswith('branches')]


def test_stock_head_branch_projection():
    head = _head(
        branch=dict(type='ASPPHead', dilations=(1, 2), channels=16),
        affinity_channels=8)
    for task in ('seg', 'sal'):
        branch = head.branches[task]
        assert isinstance(branch[0], StockHeadFeatures)
        # 1x1 projection 16 -> affinity_channels
        assert branch[1].conv.in_channels == 16
        assert branch[1].conv.out_channels == 8
    assert head.conv_seg.in_channels == 8
    outs = head(_inputs())
    assert outs['seg_pair'].shape == (2, K, HW, HW)
    assert outs['sal_unary'].shape == (2, 1, HW, HW)


@pytest.mark.parametrize('branch, error, match', [
    (dict(type='OCRHead', ocr_channels=8), TypeError,
     r"OCRHead.forward takes \['inputs', 'prev_output'\]"),
    (dict(type='PointHead', in_channels=[IN], in_index=[0]), TypeError,
     'PointHead has no conv_seg'),
    (dict(type='SegmenterMaskTransformerHead', num_layers=1, num_heads=2,
          embed_dims=8), TypeError, 'SegmenterMaskTransformerHead has no'),
    (dict(type='ASPPHead', dilations=(1, 2), dropout_ratio=0.1), ValueError,
     'ASPPHead: set dropout_ratio=0'),
])
def test_unsupported_stock_heads_are_refused_at_build(branch, error, match):
    with pytest.raises(error, match=match):
        _head(branch=dict(branch, channels=CH))


def test_stock_head_with_other_outputs_is_refused_at_forward():
    # DAHead returns three predictions (and has two more classifiers)
    head = _head(branch=dict(type='DAHead', channels=CH, pam_channels=4))
    with pytest.raises(RuntimeError, match='DAHead.forward does not return'):
        head(_inputs())
