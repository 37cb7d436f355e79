import pytest
import torch
import torch.nn.functional as F
from mmengine import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_wsss  # noqa: F401  (registers the heads, losses, ASPPHead)
from mmseg_wsss.models.decode_heads.dual_affinity_head import (
    DualAffinityHead, StockHeadFeatures)
from mmseg_wsss.models.utils.affinity import propagate

K = 21
IN, CH, HW = 16, 8, 9
N = HW * HW
SEG_KEYS = {'loss_seg', 'loss_seg_pair', 'loss_seg_unary'}
SAL_KEYS = {'loss_sal', 'loss_sal_pair', 'loss_sal_unary'}


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
        loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
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
    with pytest.raises(KeyError, match="output='seg_pair'"):
        _head(affinity_mode='none').eval().predict(inputs, metas,
                                                   ConfigDict(output='seg_pair'))


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
    with_sal = kwargs.get('use_sal_branch', True)
    losses = head.loss(
        _inputs(), _samples(size=18, with_sal=with_sal), ConfigDict())
    assert _loss_terms(losses) == expected
    assert 'acc_seg' in losses
    sum(losses[k] for k in expected).backward()
    # every trainable parameter takes part in the loss (DDP without
    # find_unused_parameters)
    unused = [
        name for name, p in head.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum())
    ]
    assert not unused


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


def test_missing_saliency_raises():
    head = _head(affinity_mode='none')
    outs = head(_inputs())
    with pytest.raises(KeyError, match='LoadSaliencyMap'):
        head.loss_by_feat(outs, _samples(with_sal=False))


def test_stock_head_branch():
    head = _head(
        branch=dict(type='ASPPHead', dilations=(1, 2), channels=16),
        affinity_channels=8)
    for task in ('seg', 'sal'):
        branch = getattr(head, f'{task}_branch')
        assert isinstance(branch[0], StockHeadFeatures)
        assert type(branch[0].head).__name__ == 'ASPPHead'
        assert not hasattr(branch[0].head, 'conv_seg')
        # 1x1 projection 16 -> affinity_channels
        assert branch[1].in_channels == 16 and branch[1].out_channels == 8
    names = list(head.state_dict())
    assert not [n for n in names if 'branch' in n and 'conv_seg' in n]
    # separate weights for the two copies
    assert head.seg_branch[0].head is not head.sal_branch[0].head
    assert head.conv_seg.in_channels == 8
    outs = head(_inputs())
    assert outs['seg_pair'].shape == (2, K, HW, HW)
    assert outs['sal_unary'].shape == (2, 1, HW, HW)
    losses = head.loss(_inputs(), _samples(size=18), ConfigDict())
    assert _loss_terms(losses) == SEG_KEYS | SAL_KEYS
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    unused = [
        name for name, p in head.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum())
    ]
    assert not unused
