"""SkipSampler: the wrapped sampler's indices without the first ones."""
import itertools

from mmseg_wsss.engine import SkipSampler


def test_skips_the_first_indices_of_the_same_order():
    dataset = list(range(10))
    sampler = dict(type='DefaultSampler', shuffle=True)
    full = list(SkipSampler(dataset, sampler, 0, seed=3))
    rest = list(SkipSampler(dataset, sampler, 4, seed=3))
    assert rest == full[4:]
    assert len(SkipSampler(dataset, sampler, 4, seed=3)) == 6


def test_infinite_sampler_stays_infinite():
    sampler = SkipSampler(list(range(5)), dict(type='InfiniteSampler'), 7,
                          seed=0)
    full = SkipSampler(list(range(5)), dict(type='InfiniteSampler'), 0,
                       seed=0)
    assert list(itertools.islice(sampler, 12)) == list(
        itertools.islice(full, 7, 19))
