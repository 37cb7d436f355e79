"""GMMThresholdTracker: cosa.md 2.9 and section 6 property 8."""
import copy
import math

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_wsss.models.utils import GMMThresholdTracker


def _normal(mean: float, n: int = 20000, std: float = 0.05,
            seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=gen) * std + mean).clamp(0, 1)


def _cam(values: torch.Tensor) -> torch.Tensor:
    """Samples as a 1 x 1 x 1 x N CAM (use ``downsample=1``)."""
    return values.reshape(1, 1, 1, -1)


def _tracker(**kwargs) -> GMMThresholdTracker:
    cfg = dict(downsample=1, min_queued=1)
    cfg.update(kwargs)
    return GMMThresholdTracker(**cfg)


def _log_density(x: float, mean: float, var: float, weight: float) -> float:
    return (math.log(weight) - 0.5 * math.log(2 * math.pi * var) -
            (x - mean)**2 / (2 * var))


def test_registered_and_initial_state():
    tracker = MODELS.build(dict(type='GMMThresholdTracker'))
    assert isinstance(tracker, GMMThresholdTracker)
    assert tracker.current() == 0.5 and not tracker.is_dual
    assert tracker.num_queued == 0 and tracker.num_samples == 0
    assert tracker.means == ()
    assert tracker.queue.shape == (100, 1000)
    # everything a resumed run needs is in the checkpoint
    assert set(tracker.state_dict()) == {
        'queue', 'num_enqueued', 'num_fits', 'thresholds', 'raw_thresholds',
        'gmm_means', 'gmm_variances', 'gmm_weights'
    }


def test_gmm2_two_modes_split_where_the_densities_cross():
    """Property 8: N(0.1, 0.05^2) and N(0.8, 0.05^2), 20,000 each."""
    tracker = _tracker()
    tracker.enqueue(_cam(_normal(0.1, seed=1)))
    tracker.enqueue(_cam(_normal(0.8, seed=2)))
    tracker.refit()
    xi = tracker.current()
    assert 0.3 < xi < 0.6
    low, high = tracker.means
    assert abs(low - 0.1) < 0.03 and abs(high - 0.8) < 0.01
    # a bin edge: resolution = bin width
    edge = (xi - tracker.filter_thre) / tracker.bin_width
    assert abs(edge - round(edge)) < 1e-6
    # the weighted densities cross within the bin below / above xi
    params = list(zip(tracker.gmm_means.tolist(),
                      tracker.gmm_variances.tolist(),
                      tracker.gmm_weights.tolist()))
    below, above = xi - tracker.bin_width / 2, xi + tracker.bin_width / 2
    assert _log_density(below, *params[0]) > _log_density(below, *params[1])
    assert _log_density(above, *params[0]) < _log_density(above, *params[1])
    assert tracker.raw_threshold == (xi, xi)


def test_gmm2_arrival_order_does_not_matter():
    low, high = _normal(0.1, seed=1), _normal(0.8, seed=2)
    first, second = _tracker(), _tracker()
    for values in (low, high):
        first.enqueue(_cam(values))
    for values in (high, low):
        second.enqueue(_cam(values))
    first.refit()
    second.refit()
    assert first.current() == second.current()
    assert first.means == second.means
    # refitted after every enqueue: different warm starts, same fit up to
    # the EM tolerance, same threshold up to one bin
    first, second = _tracker(), _tracker()
    for chunk in range(10):
        for tracker, values in ((first, low), (second, high)):
            tracker.enqueue(_cam(values[chunk::10]))
            tracker.refit()
    for chunk in range(10):
        for tracker, values in ((first, high), (second, low)):
            tracker.enqueue(_cam(values[chunk::10]))
            tracker.refit()
    assert torch.equal(first.queue.sum(0), second.queue.sum(0))
    assert abs(first.current() - second.current()) <= (first.bin_width +
                                                       1e-9)
    np.testing.assert_allclose(first.means, second.means, atol=1e-3)


def test_gmm2_warm_starts_from_the_previous_fit():
    """Modes 0.15 / 0.5 / 0.85 have two 2-component optima, {0.15} /
    {0.5, 0.85} and {0.15, 0.5} / {0.85}: the same queue refitted from a
    previous fit near either stays at that one."""
    values = torch.cat([
        _normal(0.15, n=8000, std=0.04),
        _normal(0.5, n=4000, std=0.04, seed=1),
        _normal(0.85, n=8000, std=0.04, seed=2)
    ])
    fits = []
    for previous in ((0.15, 0.675), (0.325, 0.85)):
        tracker = _tracker()
        tracker.enqueue(_cam(values))
        state = tracker.state_dict()
        state.update(
            num_fits=torch.tensor(1),
            gmm_means=torch.tensor(previous, dtype=torch.float64),
            gmm_variances=torch.full((2, ), 0.01, dtype=torch.float64),
            gmm_weights=torch.full((2, ), 0.5, dtype=torch.float64))
        tracker.load_state_dict(state)
        tracker.refit()
        fits.append((tracker.means, tracker.current()))
    (low_means, low_xi), (high_means, high_xi) = fits
    assert low_means[0] == pytest.approx(0.15, abs=0.01) and low_xi < 0.4
    assert high_means[1] == pytest.approx(0.85, abs=0.01) and high_xi > 0.6


def test_gmm2_ema_and_clamp():
    tracker = _tracker(xi_ema=0.5, init_xi=0.4)
    tracker.enqueue(_cam(torch.cat([_normal(0.1), _normal(0.8, seed=1)])))
    tracker.refit()
    raw, _ = tracker.raw_threshold
    assert tracker.current() == pytest.approx(0.5 * 0.4 + 0.5 * raw)
    # all samples in one mode at the top: xi stays <= 0.95
    tracker = _tracker()
    values = torch.cat([_normal(0.99, std=0.003), _normal(0.999, std=0.001)])
    tracker.enqueue(_cam(values))
    tracker.refit()
    assert 0.05 <= tracker.current() <= 0.95


def test_gmm3_three_modes():
    """Property 8: modes 0.1 / 0.45 / 0.85 -> lo between the first two,
    hi between the last two; the code's EMA 0.99 from (0.25, 0.7)."""
    values = torch.cat([_normal(m, seed=i) for i, m in
                        enumerate((0.1, 0.45, 0.85))])
    tracker = _tracker(threshold_mode='gmm3', xi_ema=0.0)
    tracker.enqueue(_cam(values))
    tracker.refit()
    lo, hi = tracker.current()
    assert 0.1 < lo < 0.45 < hi < 0.85
    assert len(tracker.means) == 3
    default = _tracker(threshold_mode='gmm3')
    assert default.is_dual and default.current() == (0.25, 0.7)
    default.enqueue(_cam(values))
    default.refit()
    assert default.raw_threshold == (lo, hi)
    expected = (0.99 * 0.25 + 0.01 * lo, 0.99 * 0.7 + 0.01 * hi)
    assert default.current() == pytest.approx(expected)


def test_queue_keeps_the_last_iterations():
    """After Q + k enqueues only the last Q iterations remain."""
    tracker = _tracker(queue_len=3)
    values = (0.2, 0.3, 0.5, 0.7, 0.9)
    for value in values:
        tracker.enqueue(_cam(torch.full((7, ), value)))
    assert tracker.num_queued == 3 and int(tracker.num_enqueued) == 5
    assert tracker.num_samples == 21
    counts = tracker.queue.sum(0)
    expected = torch.zeros_like(counts)
    for value in values[2:]:
        expected[int((value - 0.05) / tracker.bin_width)] += 7
    assert torch.equal(counts, expected)


def test_nan_and_small_values_are_ignored():
    values = torch.cat([_normal(0.2), _normal(0.7, seed=1)])
    clean, noisy = _tracker(), _tracker()
    clean.enqueue(_cam(values))
    junk = torch.tensor([float('nan'), 0.0, 0.01, 0.05, float('nan')])
    noisy.enqueue(_cam(torch.cat([junk, values, junk])))
    assert noisy.num_samples == clean.num_samples == (values > 0.05).sum()
    clean.refit()
    noisy.refit()
    assert noisy.current() == clean.current()
    assert noisy.means == clean.means


def test_downsampling_class_max_and_valid_mask():
    """Each class map /16 (bilinear), max over classes; samples reading a
    pixel outside ``valid`` are dropped."""
    tracker = GMMThresholdTracker(min_queued=1)
    cam = torch.zeros(2, 3, 64, 80)
    cam[:, 0] = 0.3
    cam[:, 1, :32] = 0.8  # top half: class 1 wins
    cam[1, 2] = 0.9  # image 1: class 2 wins everywhere
    valid = torch.ones(2, 64, 80, dtype=torch.bool)
    # the last sample column reads pixels 71 and 72: one is padding
    valid[0, :, 72:] = False
    tracker.enqueue(cam, valid)
    counts = tracker.queue[0]

    def count(value):
        return int(counts[int((value - 0.05) / tracker.bin_width)])

    # 4 x 5 samples per image; image 0 keeps 4 x 4
    assert tracker.num_samples == 16 + 20
    assert count(0.8) == 8 and count(0.3) == 8 and count(0.9) == 20
    # an image of 8 px with downsample 16 still gives one sample
    tracker.enqueue(torch.full((1, 1, 8, 8), 0.6))
    assert tracker.num_samples == 37


def test_sklearn_agrees_on_the_fitted_means():
    mixture = pytest.importorskip('sklearn.mixture')
    gen = torch.Generator().manual_seed(3)
    values = torch.cat([
        torch.randn(30000, generator=gen) * 0.08 + 0.15,
        torch.randn(15000, generator=gen) * 0.1 + 0.75
    ]).clamp(0, 1)
    tracker = _tracker()
    tracker.enqueue(_cam(values))
    tracker.refit()
    kept = values[values > 0.05].double().numpy()[:, None]
    reference = mixture.GaussianMixture(
        n_components=2, tol=1e-7, max_iter=1000, random_state=0).fit(kept)
    order = np.argsort(reference.means_.ravel())
    np.testing.assert_allclose(tracker.means,
                               reference.means_.ravel()[order], atol=2e-3)
    np.testing.assert_allclose(tracker.gmm_weights.numpy(),
                               reference.weights_[order], atol=5e-3)


def test_fixed_mode():
    single = GMMThresholdTracker(threshold_mode='fixed', init_xi=0.4)
    dual = GMMThresholdTracker(threshold_mode='fixed',
                               dual_threshold=(0.2, 0.7))
    for tracker in (single, dual):
        for _ in range(12):
            tracker.enqueue(torch.rand(2, 3, 32, 32))
            tracker.refit()
        assert tracker.num_queued == 0 and tracker.means == ()
    assert single.current() == 0.4 and not single.is_dual
    assert dual.current() == (0.2, 0.7) and dual.is_dual


def test_too_few_samples_keep_the_initial_threshold():
    tracker = GMMThresholdTracker(downsample=1, init_xi=0.45, min_queued=10)
    values = torch.cat([_normal(0.1, n=500), _normal(0.8, n=500, seed=1)])
    for _ in range(9):
        tracker.enqueue(_cam(values))
        tracker.refit()
    assert tracker.current() == 0.45 and int(tracker.num_fits) == 0
    tracker.enqueue(_cam(values))
    tracker.refit()
    assert tracker.current() != 0.45 and int(tracker.num_fits) == 1
    # nothing above filter_thre, or one bin only: no fit
    for cam in (torch.zeros(1, 2, 16, 16), torch.full((1, 2, 16, 16), 0.6)):
        tracker = _tracker(init_xi=0.45)
        tracker.enqueue(cam)
        tracker.refit()
        assert tracker.current() == 0.45 and int(tracker.num_fits) == 0


def test_state_dict_round_trip_mid_run():
    """A tracker restored from a mid-run state dict continues exactly like
    the uninterrupted one."""
    cfg = dict(queue_len=5, min_queued=3, downsample=4)
    gen = torch.Generator().manual_seed(0)
    cams = [
        torch.rand(2, 3, 32, 32, generator=gen)**(1 + i % 3)
        for i in range(14)
    ]
    uninterrupted = GMMThresholdTracker(**cfg)
    for cam in cams[:7]:
        uninterrupted.enqueue(cam)
        uninterrupted.refit()
    state = copy.deepcopy(uninterrupted.state_dict())
    resumed = GMMThresholdTracker(**cfg)
    resumed.load_state_dict(state)
    assert resumed.current() == uninterrupted.current()
    for cam in cams[7:]:
        for tracker in (uninterrupted, resumed):
            tracker.enqueue(cam)
            tracker.refit()
        for key, value in uninterrupted.state_dict().items():
            assert torch.equal(resumed.state_dict()[key], value), key
    assert int(resumed.num_fits) == 12


@pytest.mark.parametrize('kwargs', [
    dict(threshold_mode='gmm4'),
    dict(queue_len=0),
    dict(queue_len=2.5),
    dict(init_xi=0.0),
    dict(init_xi=1.0),
    dict(filter_thre=1.0),
    dict(filter_thre=-0.1),
    dict(downsample=0),
    dict(dual_threshold=(0.2, 0.7)),
    dict(threshold_mode='fixed', dual_threshold=(0.7, 0.2)),
    # the CPL rule needs 0 < lo <= hi < 1: refused at build, not after
    # the warm-up
    dict(threshold_mode='fixed', dual_threshold=(0.0, 0.7)),
    dict(threshold_mode='fixed', dual_threshold=(0.25, 1.0)),
    dict(threshold_mode='gmm3', dual_threshold=(0.2, )),
    dict(xi_ema=1.0),
    dict(min_queued=0),
    dict(min_queued=101),
    dict(num_bins=1),
    dict(tol=0.0),
    dict(min_variance=0.0),
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        GMMThresholdTracker(**kwargs)


def test_bad_inputs():
    tracker = GMMThresholdTracker()
    for cam in (torch.rand(3, 32, 32), torch.rand(2, 0, 32, 32)):
        with pytest.raises(ValueError, match='B x C_f x H x W'):
            tracker.enqueue(cam)
    cam = torch.rand(2, 3, 32, 32)
    for valid in (torch.ones(2, 32, 32), torch.ones(2, 16, 16,
                                                     dtype=torch.bool)):
        with pytest.raises(ValueError, match='valid'):
            tracker.enqueue(cam, valid)
    assert tracker.num_queued == 0
