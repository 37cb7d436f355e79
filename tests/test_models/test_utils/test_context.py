"""Table II's context replacements (wsfcn.md 4): NonLocalContext,
LargeKernelContext, PPMContext."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmcv.cnn import NonLocal2d
from mmseg.models.decode_heads.psp_head import PPM
from mmseg.registry import MODELS

IN, CH, H, W = 12, 8, 9, 11
TYPES = ('NonLocalContext', 'LargeKernelContext', 'PPMContext')


def _build(type_, **kwargs):
    torch.manual_seed(0)
    module = MODELS.build(dict(type=type_, in_channels=IN, channels=CH,
                               **kwargs))
    module.init_weights()
    return module


def _maps(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('type_', TYPES)
@pytest.mark.parametrize('train', [False, True])
def test_context_keeps_the_input_size(type_, train):
    module = _build(type_).train(train)
    assert module(_maps(2, IN, H, W)).shape == (2, CH, H, W)
    # one image per device trains too (frozen BN statistics)
    assert module(_maps(1, IN, H, W)).shape == (1, CH, H, W)
    if train:
        assert not any(m.training for m in module.modules()
                       if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('type_', TYPES)
def test_eval_is_deterministic_and_train_drops_out(type_):
    module = _build(type_)
    x = _maps(2, IN, H, W)
    module.eval()
    ref = module(x)
    torch.testing.assert_close(module(x), ref)
    module.train()
    out = module(x)
    # dropout 0.5 on the output (frozen BN: the rest is as in eval mode):
    # about half the non-zero outputs dropped, the others doubled
    kept = out[ref != 0] != 0
    assert 0.4 < kept.float().mean() < 0.6
    torch.testing.assert_close(out[out != 0], 2 * ref[out != 0])


def test_parameter_counts():
    inter = CH // 2  # non-local reduction 2
    # 1x1 reduction (conv, BN); g, theta, phi (convs with bias); conv_out
    # (conv, BN)
    assert _count(_build('NonLocalContext')) == (
        IN * CH + 2 * CH + 3 * (CH * inter + inter) + inter * CH + 2 * CH)
    for k in (3, 7):
        assert _count(_build('LargeKernelContext', kernel_size=k)) == (
            IN * CH * k * k + 2 * CH)
    # four pooled 1x1 ConvModules and the 3x3 bottleneck on the concat
    assert _count(_build('PPMContext')) == (
        4 * (IN * CH + 2 * CH) + (IN + 4 * CH) * CH * 9 + 2 * CH)
    assert _count(_build('PPMContext', pool_scales=(1, 3))) == (
        2 * (IN * CH + 2 * CH) + (IN + 2 * CH) * CH * 9 + 2 * CH)


def test_reused_blocks():
    nl = _build('NonLocalContext', reduction=4)
    assert isinstance(nl.nl_block, NonLocal2d)
    assert nl.nl_block.inter_channels == CH // 4
    ppm = _build('PPMContext')
    assert isinstance(ppm.psp_modules, PPM)
    assert ppm.psp_modules.pool_scales == (1, 2, 3, 6)
    large = _build('LargeKernelContext')
    assert large.conv[0].conv.kernel_size == (7, 7)
    assert large.conv[0].conv.padding == (3, 3)
    with pytest.raises(ValueError, match='odd'):
        _build('LargeKernelContext', kernel_size=4)


def _grads(module):
    module.zero_grad()
    module.train()
    module(_maps(2, IN, H, W)).square().mean().backward()
    return {n: p.grad for n, p in module.named_parameters()}


@pytest.mark.parametrize('type_', TYPES)
def test_every_parameter_gets_a_gradient(type_):
    module = _build(type_)
    if type_ == 'NonLocalContext':
        # mmcv's init zeroes the block's output norm (identity at start);
        # one SGD step moves it
        grads = _grads(module)
        assert grads['nl_block.conv_out.bn.weight'].abs().sum() > 0
        for name in ('g', 'theta', 'phi'):
            assert grads[f'nl_block.{name}.conv.weight'].abs().sum() == 0
        torch.optim.SGD(module.parameters(), lr=1.).step()
    grads = _grads(module)
    for name, grad in grads.items():
        assert grad is not None and grad.abs().sum() > 0, name
