"""SemanticAlignUpsample, SF2Fusion, SkipGCIFusion (wsfcn.md 2.4-2.5;
properties P1 and P4 of 6)."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmseg_wsss.models.utils.sf2 import (FUSE_MODES, SemanticAlignUpsample,
                                         SF2Fusion, SkipGCIFusion,
                                         offset_upsample)

LOW, HIGH, CH = 6, 10, 8
#: /4 and /8 map sizes of a 321 x 321 crop
BIG, SMALL = 81, 41


def _maps(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _inputs(seed=0, big=BIG, small=SMALL):
    return _maps(2, LOW, big, big, seed=seed), _maps(
        2, HIGH, small, small, seed=seed + 1)


def _align():
    torch.manual_seed(0)
    return SemanticAlignUpsample(LOW, HIGH, channels=4)


def _up(high, size=BIG):
    return F.interpolate(
        high, size=(size, size), mode='bilinear', align_corners=True)


def _trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_align_with_zero_offsets_is_bilinear_align_corners():
    """P4: Delta = 0 gives F.interpolate(..., align_corners=True); the low
    features then do not matter."""
    align = _align()
    torch.nn.init.zeros_(align.offset_conv.weight)
    low, high = _inputs()
    out = align(low, high)
    assert out.shape == (2, HIGH, BIG, BIG)
    torch.testing.assert_close(out, _up(high), atol=1e-5, rtol=0)
    torch.testing.assert_close(align(_maps(*low.shape, seed=9), high), out)


def _with_offset(align, dx, dy):
    """Replace the offset conv's output by the constant (dx, dy)."""

    def constant(module, args, output):
        offset = torch.zeros_like(output)
        offset[:, 0], offset[:, 1] = dx, dy
        return offset

    return align.offset_conv.register_forward_hook(constant)


@pytest.mark.parametrize('k', [1, 3, -2])
def test_constant_offset_moves_content_by_whole_pixels(k):
    """P4: Delta_0 = 2 k w_o / (w_o - 1) gives out[..., j] = up[..., j + k]
    (content moves k output pixels left); Delta_1 = 2 k h_o / (h_o - 1)
    does the same on rows. A non-square map tells w_o from h_o."""
    h_o, w_o = 33, 49
    low, high = _maps(2, LOW, h_o, w_o), _maps(2, HIGH, 17, 25, seed=1)
    up = F.interpolate(
        high, size=(h_o, w_o), mode='bilinear', align_corners=True)
    align = _align()

    def check(dx, dy, dim, size):
        with _with_offset(align, dx, dy):
            out = align(low, high)
        kept = torch.arange(max(0, -k), size - max(0, k))
        torch.testing.assert_close(
            out.index_select(dim, kept), up.index_select(dim, kept + k),
            atol=1e-4, rtol=0)

    check(2 * k * w_o / (w_o - 1), 0, 3, w_o)
    check(0, 2 * k * h_o / (h_o - 1), 2, h_o)


def test_offsets_past_the_border_read_zeros():
    low, high = _inputs()
    align = _align()
    with _with_offset(align, 4 * BIG, 0):
        assert not align(low, high).any()


def test_offsets_come_from_both_inputs():
    """Eq. 11: the offsets see Up(reduce_high(F^h)) and reduce_low(F^l)."""
    align = _align()
    low, high = _inputs()
    offsets = []
    hook = align.offset_conv.register_forward_hook(
        lambda module, args, output: offsets.append(args[0]))
    align(low, high)
    hook.remove()
    reduced_high = F.interpolate(
        align.reduce_high(high), size=(BIG, BIG), mode='bilinear',
        align_corners=False)
    torch.testing.assert_close(
        offsets[0], torch.cat([reduced_high, align.reduce_low(low)], dim=1))


def test_offset_upsample_sizes():
    x = _maps(3, 2, 5, 7)
    assert offset_upsample(x, torch.zeros(3, 2, 9, 13)).shape == (3, 2, 9, 13)


@pytest.mark.parametrize('fuse_mode', FUSE_MODES)
@pytest.mark.parametrize('align', [True, False])
def test_sf2_follows_its_equations(fuse_mode, align):
    """2.5b: l1 = E1(F^l), h1 = E1(F^h^), f = fuse(E2(l1), E2(h1)),
    F^l' = E4(E3(f) + l1), F^h' = E4(E3(f) + h1); returns (F^h', F^l')."""
    torch.manual_seed(0)
    fusion = SF2Fusion(LOW, HIGH, CH, align=align, align_channels=4,
                       fuse_mode=fuse_mode).eval()
    low, high = _inputs(big=9, small=5)
    up = fusion.upsample(low, high) if align else _up(high, 9)
    e_l, e_h = fusion.streams['low'], fusion.streams['high']
    l1, h1 = e_l[0](low), e_h[0](up)
    l2, h2 = e_l[1](l1), e_h[1](h1)
    fused = dict(
        mul=l2 * h2, sum=l2 + h2, concat=torch.cat([l2, h2], 1))[fuse_mode]
    deep, shallow = fusion(low, high)
    assert deep.shape == shallow.shape == (2, CH, 9, 9)
    torch.testing.assert_close(deep, e_h[3](e_h[2](fused) + h1))
    torch.testing.assert_close(shallow, e_l[3](e_l[2](fused) + l1))


@pytest.mark.parametrize('train', [False, True])
def test_sf2_shapes_at_the_crop_sizes(train):
    fusion = SF2Fusion(LOW, HIGH, CH, align_channels=4).train(train)
    deep, shallow = fusion(*_inputs())
    assert deep.shape == shallow.shape == (2, CH, BIG, BIG)


def test_sf2_rejects_unknown_fusion():
    with pytest.raises(ValueError, match='fuse_mode'):
        SF2Fusion(fuse_mode='max')


def test_sf2_embeddings_have_bias_and_norm():
    """2.5b: E = ReLU(BN(conv3x3 with bias)); BN statistics train."""
    fusion = SF2Fusion(LOW, HIGH, CH, align_channels=4).train()
    for stream in fusion.streams.values():
        for embed in stream:
            assert embed.conv.bias is not None
            assert embed.conv.kernel_size == (3, 3)
            assert embed.with_norm and embed.with_activation
    fusion(*_inputs(big=9, small=5))
    assert fusion.streams['low'][0].bn.running_mean.any()


def test_init_weights_follows_the_official_code():
    """SF2 convs: kaiming-normal fan_in, zero biases; alignment convs:
    PyTorch's default (uniform, bound 1 / sqrt(fan_in))."""
    torch.manual_seed(0)
    fusion = SF2Fusion(64, 48, 32, align_channels=40)
    fusion.init_weights()
    for stream in fusion.streams.values():
        for embed in stream:
            conv = embed.conv
            fan_in = conv.in_channels * math.prod(conv.kernel_size)
            ratio = conv.weight.std().item() / math.sqrt(2 / fan_in)
            assert 0.9 < ratio < 1.1
            assert not conv.bias.any()
    align = fusion.upsample
    for conv in (align.reduce_high, align.reduce_low, align.offset_conv):
        bound = 1 / math.sqrt(conv.in_channels * math.prod(conv.kernel_size))
        assert 0.8 * bound < conv.weight.abs().max() <= bound


def test_skip_gci_follows_its_equations():
    """2.4: x_d = fuse([Up_ac(ctx); skip(conv3)]); gamma, beta = halves of
    the spatial max of attrs(x_d); x_s = out(ReLU(u (gamma + 1) + beta))."""
    torch.manual_seed(0)
    fusion = SkipGCIFusion(LOW, HIGH, CH, skip_channels=3).eval()
    low, high = _inputs(big=9, small=5)
    deep, shallow = fusion(low, high)
    assert deep.shape == shallow.shape == (2, CH, 9, 9)
    expected = fusion.deep['fuse'](
        torch.cat([_up(high, 9), fusion.deep['skip'](low)], dim=1))
    torch.testing.assert_close(deep, expected)
    attrs = fusion.gci['attrs'](deep).amax(dim=(2, 3))
    gamma, beta = attrs[:, :CH, None, None], attrs[:, CH:, None, None]
    u = fusion.gci['shallow'](low)
    torch.testing.assert_close(
        shallow, fusion.gci['out'](F.relu(u * (gamma + 1) + beta)))


def test_gci_shallow_norm_has_no_affine():
    fusion = SkipGCIFusion(LOW, HIGH, CH)
    norm = fusion.gci['shallow'].bn
    assert not norm.affine and not fusion.gci['shallow'].with_activation


@pytest.mark.parametrize('train', [False, True])
def test_skip_gci_shapes_at_the_crop_sizes(train):
    fusion = SkipGCIFusion(LOW, HIGH, CH).train(train)
    deep, shallow = fusion(*_inputs())
    assert deep.shape == shallow.shape == (2, CH, BIG, BIG)


def test_parameter_counts_at_the_real_sizes():
    """P1: (Align + SF2) - (skip + GCI) = 3,817,888 (paper +3.82 M). The
    naive fusions (no alignment) give Table II's 140.85 M (sum, product)
    and 142.03 M (concatenation) on the 137.10 M baseline."""
    with torch.device('meta'):
        sf2, gci = SF2Fusion(), SkipGCIFusion()
        align = SemanticAlignUpsample()
        naive = {mode: SF2Fusion(align=False, fuse_mode=mode)
                 for mode in FUSE_MODES}
    assert _trainable(align) == 70_144
    assert _trainable(sf2) == 4_794_880
    assert _trainable(gci) == 976_992
    assert _trainable(sf2) - _trainable(gci) == 3_817_888
    baseline = 137.10e6
    for mode, paper in (('sum', 140.85), ('mul', 140.85),
                        ('concat', 142.03)):
        extra = _trainable(naive[mode]) - _trainable(gci)
        assert round((baseline + extra) / 1e6, 2) == paper
