import copy

import pytest
import torch
import torch.nn as nn

from mmseg_wsss.models.utils.affinity import (pairwise_affinity, propagate,
                                              unary_affinity)
from mmseg_wsss.models.utils.cross_task_affinity import (AffinityFusion,
                                                         CrossTaskDualAffinity,
                                                         refine_unary)

C, H, W = 6, 3, 4
N = H * W


def _maps(*shape, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen) * scale


def _affinity(seed, scale=1.0):
    """A random B x N x N row-stochastic matrix."""
    return pairwise_affinity(
        _maps(2, C, H, W, seed=seed, scale=scale),
        _maps(2, C, H, W, seed=seed + 100, scale=scale))


def _features(seed=0):
    return _maps(2, C, H, W, seed=seed), _maps(2, C, H, W, seed=seed + 1)


def _module(**kwargs):
    torch.manual_seed(0)
    return CrossTaskDualAffinity(C, **kwargs).eval()


def test_fusion_weights_are_a_convex_pair():
    torch.manual_seed(0)
    fusion = AffinityFusion()
    a, b = _affinity(1), _affinity(2, scale=2.)
    w = fusion.weights(a, b)
    assert w.shape == (2, 2, N, N)
    assert torch.all(w >= 0)
    torch.testing.assert_close(w.sum(1), torch.ones(2, N, N), rtol=0,
                               atol=1e-6)
    # the weights depend on the inputs (a self-attention, not a constant)
    assert not torch.allclose(w, fusion.weights(b, a))
    torch.testing.assert_close(fusion(a, b), w[:, 0] * a + w[:, 1] * b)


def test_fusion_of_identical_affinities_is_identity():
    torch.manual_seed(0)
    fusion = AffinityFusion()
    a = _affinity(3)
    fused = fusion(a, a)
    torch.testing.assert_close(fused, a, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fused.sum(2), torch.ones(2, N), rtol=0,
                               atol=1e-5)


def test_fusion_lies_between_its_inputs():
    torch.manual_seed(0)
    fusion = AffinityFusion()
    a, b = _affinity(4), _affinity(5, scale=2.)
    fused = fusion(a, b)
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    tol = 1e-6
    assert torch.all(fused >= lo - tol) and torch.all(fused <= hi + tol)
    rows = fused.sum(2)
    assert torch.all(rows >= lo.sum(2) - 1e-5)
    assert torch.all(rows <= hi.sum(2) + 1e-5)
    # without re-normalisation the rows do not sum to 1 in general
    assert not torch.allclose(rows, torch.ones_like(rows), atol=1e-4)


def test_dual_mode_shapes_and_unary_distribution():
    module = _module(mode='dual')
    f_seg, f_sal = _features()
    out_seg, out_sal, a_ct, u_ct = module(f_seg, f_sal)
    assert out_seg.shape == out_sal.shape == (2, C, H, W)
    assert a_ct.shape == (2, N, N)
    assert u_ct.shape == (2, N)
    assert torch.all(u_ct > 0)
    torch.testing.assert_close(u_ct.sum(1), torch.ones(2), rtol=0,
                               atol=1e-5)
    # the unary fusion lives on the h x w grid of the two unary maps
    u_seg = module.unary['seg'](f_seg)
    u_sal = module.unary['sal'](f_sal)
    fused = module.fusion_unary(
        u_seg.unflatten(1, (H, W)), u_sal.unflatten(1, (H, W))).flatten(1)
    torch.testing.assert_close(u_ct, fused / fused.sum(1, keepdim=True))


def test_dual_mode_features_by_hand():
    module = _module(mode='dual')
    f_seg, f_sal = _features(seed=2)
    out_seg, out_sal, a_ct, _ = module(f_seg, f_sal)
    for task, f, out in (('seg', f_seg, out_seg), ('sal', f_sal, out_sal)):
        pair = module.pairwise[task]
        aff = pairwise_affinity(pair.query(f), pair.key(f))
        v = pair.value(f)
        u = unary_affinity(module.unary[task].score(f))
        context = propagate(aff, v) + torch.einsum(
            'bn,bcn->bc', u, v.flatten(2))[..., None, None]
        expected = f + module.proj[task](context)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_pairwise_mode_is_auxsegnet():
    module = _module(mode='pairwise')
    keys = list(module.state_dict())
    assert not [k for k in keys if 'unary' in k]
    assert any(k.startswith('fusion_pair.') for k in keys)
    f_seg, f_sal = _features(seed=4)
    out_seg, out_sal, a_ct, u_ct = module(f_seg, f_sal)
    assert u_ct is None
    affs = {}
    for task, f, out in (('seg', f_seg, out_seg), ('sal', f_sal, out_sal)):
        pair = module.pairwise[task]
        affs[task] = pairwise_affinity(pair.query(f), pair.key(f))
        expected = f + module.proj[task](propagate(affs[task],
                                                   pair.value(f)))
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        a_ct, module.fusion_pair(affs['seg'], affs['sal']), rtol=1e-5,
        atol=1e-6)
    # the residual is non-zero at init (W is not zero-initialised)
    assert not torch.allclose(out_seg, f_seg)


@pytest.mark.parametrize('mode', ['pairwise', 'dual'])
def test_renormalised_cross_affinity(mode):
    raw = _module(mode=mode)
    renorm = _module(mode=mode, renorm_cross_affinity=True)
    renorm.load_state_dict(raw.state_dict())
    f_seg, f_sal = _features(seed=6)
    a_raw = raw(f_seg, f_sal)[2]
    a_norm = renorm(f_seg, f_sal)[2]
    torch.testing.assert_close(a_norm.sum(2), torch.ones(2, N), rtol=0,
                               atol=1e-5)
    torch.testing.assert_close(a_norm, a_raw / a_raw.sum(2, keepdim=True))


@pytest.mark.parametrize('mode', ['pairwise', 'dual'])
def test_materialize_false_gives_same_features(mode):
    module = _module(mode=mode)
    f_seg, f_sal = _features(seed=8)
    full = module(f_seg, f_sal, materialize=True)
    fast = module(f_seg, f_sal, materialize=False)
    assert full[2] is not None and fast[2] is None
    torch.testing.assert_close(fast[0], full[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast[1], full[1], rtol=1e-5, atol=1e-5)
    if mode == 'dual':
        torch.testing.assert_close(fast[3], full[3], rtol=1e-5, atol=1e-6)
    else:
        assert fast[3] is None


def test_without_fusion_uses_the_segmentation_affinity():
    module = _module(mode='dual', fuse=False)
    assert not hasattr(module, 'fusion_pair')
    assert not hasattr(module, 'fusion_unary')
    f_seg, f_sal = _features(seed=10)
    _, out_sal, a, u = module(f_seg, f_sal)
    assert out_sal is not None
    pair = module.pairwise['seg']
    torch.testing.assert_close(
        a, pairwise_affinity(pair.query(f_seg), pair.key(f_seg)))
    torch.testing.assert_close(u, module.unary['seg'](f_seg))
    # seg only (no saliency task)
    seg_only = _module(mode='pairwise', fuse=False, with_sal=False)
    assert not [k for k in seg_only.state_dict() if 'sal' in k]
    out_seg, none, a, u = seg_only(f_seg)
    assert none is None and u is None
    assert out_seg.shape == f_seg.shape and a.shape == (2, N, N)


def test_dual_mode_without_unary_fusion():
    full = _module(mode='dual')
    module = _module(mode='dual', fuse_unary=False)
    assert not [k for k in module.state_dict() if 'fusion_unary' in k]
    assert any(k.startswith('unary.seg.') for k in module.state_dict())
    module.load_state_dict(full.state_dict(), strict=False)
    f_seg, f_sal = _features(seed=12)
    out = module(f_seg, f_sal)
    expected = full(f_seg, f_sal)
    assert out[3] is None
    for a, b in zip(out[:3], expected[:3]):
        torch.testing.assert_close(a, b)


def test_invalid_options():
    with pytest.raises(ValueError, match='mode'):
        CrossTaskDualAffinity(C, mode='unary')
    with pytest.raises(ValueError, match='saliency'):
        CrossTaskDualAffinity(C, fuse=True, with_sal=False)


def test_refine_unary_example():
    # one class, N = 3, S = [1, 2, 3], u = [0, 0, 1] -> S + 3 = [4, 5, 6]
    s = torch.tensor([1., 2., 3.]).view(1, 1, 1, 3)
    u = torch.tensor([[0., 0., 1.]])
    torch.testing.assert_close(
        refine_unary(s, u),
        torch.tensor([4., 5., 6.]).view(1, 1, 1, 3))
    # class-wise offset: each channel gets its own u-weighted mean
    s = torch.tensor([[1., 2., 3.], [10., 20., 30.]]).view(1, 2, 1, 3)
    u = torch.tensor([[0.5, 0.5, 0.]])
    expected = s + torch.tensor([1.5, 15.]).view(1, 2, 1, 1)
    torch.testing.assert_close(refine_unary(s, u), expected)


def _with_bias(conv, seed):
    """A copy of a bias-free 1x1 conv with a random bias added."""
    biased = nn.Conv2d(conv.in_channels, conv.out_channels, 1)
    biased.weight.data.copy_(conv.weight)
    biased.bias.data.copy_(
        _maps(conv.out_channels, seed=seed, scale=3.).flatten())
    return biased


@pytest.mark.parametrize('mode', ['pairwise', 'dual'])
def test_outputs_equal_those_with_the_removed_biases(mode):
    # the official code's key (phi) and unary score convs have biases; the
    # softmaxes ignore them, so they were removed (no gradient, dead
    # parameters under DDP): any value of them gives the same outputs
    module = _module(mode=mode)
    assert all(p.key.bias is None for p in module.pairwise.values())
    old = copy.deepcopy(module)
    for i, task in enumerate(('seg', 'sal')):
        old.pairwise[task].key = _with_bias(module.pairwise[task].key, i)
        if mode == 'dual':
            assert module.unary[task].score.bias is None
            old.unary[task].score = _with_bias(module.unary[task].score,
                                               i + 2)
    f_seg, f_sal = _features(seed=14)
    for materialize in (True, False):
        new_out = module(f_seg, f_sal, materialize=materialize)
        old_out = old(f_seg, f_sal, materialize=materialize)
        for new, ref in zip(new_out, old_out):
            if ref is None:
                assert new is None
            else:
                torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-6)
