"""Stochastic gate (wsfcn.md 2.6; property P6 of section 6)."""
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_wsss.models.utils.stochastic_gate import StochasticGate


def _streams(shape=(2, 3, 4, 5)):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)


@pytest.mark.parametrize('training', [True, False])
def test_psi_zero_passes_the_deep_stream(training):
    deep, shallow = _streams()
    gate = StochasticGate(psi=0.0).train(training)
    assert torch.equal(gate(deep, shallow), deep)


def test_eval_is_the_fixed_mix():
    deep, shallow = _streams()
    gate = StochasticGate().eval()
    torch.testing.assert_close(gate(deep, shallow), 0.7 * deep + 0.3 * shallow)


def test_train_draws_per_element_and_is_unbiased():
    deep, shallow = _streams((1, 2, 3, 3))
    draws = 10_000
    gate = StochasticGate(psi=0.3).train()
    torch.manual_seed(0)
    out = gate(deep.expand(draws, -1, -1, -1),
               shallow.expand(draws, -1, -1, -1))
    gated = (deep - 0.3 * shallow) / 0.7
    is_gated = torch.isclose(out, gated.expand_as(out))
    is_shallow = out == shallow.expand_as(out)
    assert torch.all(is_gated | is_shallow)
    # P(r = 1) = 0.7 per element, independently (both values in one map)
    assert abs(is_gated.double().mean().item() - 0.7) < 0.01
    assert is_gated[0].any() and is_shallow[0].any()
    # E_r[x] = x_d: within 5 standard errors of the mean
    spread = (0.7 * 0.3)**0.5 * (gated - shallow).abs() / draws**0.5
    assert torch.all((out.mean(0, keepdim=True) - deep).abs() <= 5 * spread)


def test_fresh_draw_every_call_and_any_batch_size():
    deep, shallow = _streams((4, 8, 6, 6))
    gate = StochasticGate().train()
    first, second = gate(deep, shallow), gate(deep, shallow)
    assert not torch.equal(first, second)
    assert gate(deep[:1], shallow[:1]).shape == (1, 8, 6, 6)


def test_registered_and_checked():
    gate = MODELS.build(dict(type='StochasticGate', psi=0.5))
    assert gate.psi == 0.5 and list(gate.parameters()) == []
    with pytest.raises(ValueError):
        StochasticGate(psi=1.0)
    with pytest.raises(ValueError):
        gate(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
