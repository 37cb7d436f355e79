"""Time of a ``GMMThresholdTracker`` refit on a full queue, on CPU, beside
scikit-learn's ``GaussianMixture`` fitting the same samples.

The queue holds ``--queue`` iterations of ``--batch`` images at ``--crop``
(CoSA's VOC setting: 100 x 4 x 28 x 28 = 313,600 samples). Each image's
confidences are drawn per 16 x 16 patch from a two-mode mixture like
label-masked CAM maxima: 60 % background Beta(2, 12) (mean 0.14, much of it
<= 0.05 and filtered), 40 % foreground Beta(8, 3) (mean 0.73); the CAM is
that map upsampled by 16 (nearest), so the tracker's bilinear /16
downsampling gives back exactly the drawn samples.

Rows: ``refit, warm`` is the steady state (a new iteration queued before
each timed refit, EM started from the previous fit); ``refit, cold`` starts
EM afresh every time (percentile start), ``all 100 EM steps`` too but never
stops early (the bound); ``enqueue`` queues one batch of the full CAM
(``--classes`` maps at ``--crop``). scikit-learn fits the raw
samples of the final queue (values > 0.05, as the tracker keeps) with
``GaussianMixture(n_components=2)`` (k-means start), once with its
defaults (tol 1e-3: it stops early) and once run to convergence; the table
gives its means and the tracker's minus them (the tracker's fit of the
same queue). scikit-learn is a test / bench extra
(``requirements/tests.txt``), never imported by the package.

Usage:
    OMP_NUM_THREADS=1 python bench/gmm_threshold.py [--repeats 200] \\
        [--out r.json]
"""
import argparse
import json
import statistics
import time
from typing import Callable, List

import numpy as np
import torch

from mmseg_wsss.models.utils import GMMThresholdTracker

BG_WEIGHT = 0.6
BG_BETA = (2.0, 12.0)
FG_BETA = (8.0, 3.0)
DOWNSAMPLE = 16
# GaussianMixture(n_components=2, **kwargs): its defaults (tol 1e-3 on the
# mean log-likelihood, 100 steps) and run to convergence
SKLEARN = {
    'GaussianMixture(2)': dict(),
    'GaussianMixture(2, tol=1e-6, max_iter=1000)': dict(tol=1e-6,
                                                        max_iter=1000),
}


def draw_confidences(batch: int, crop: int,
                     rng: np.random.Generator) -> torch.Tensor:
    """B x (crop / 16) x (crop / 16) samples of the two-mode mixture."""
    side = crop // DOWNSAMPLE
    shape = (batch, side, side)
    background = rng.random(shape) < BG_WEIGHT
    values = np.where(background, rng.beta(*BG_BETA, size=shape),
                      rng.beta(*FG_BETA, size=shape))
    return torch.from_numpy(values).float()


def as_cam(samples: torch.Tensor, classes: int) -> torch.Tensor:
    """B x classes x crop x crop CAM whose /16 bilinear downsampling and
    max over classes give ``samples`` back (class 0 holds them, the others
    a fraction)."""
    cam = samples.repeat_interleave(DOWNSAMPLE, 1).repeat_interleave(
        DOWNSAMPLE, 2)[:, None]
    scales = torch.linspace(1.0, 0.1, classes).view(1, classes, 1, 1)
    return cam * scales


def median_ms(fn: Callable[[], None], repeats: int,
              before: Callable[[], None] = lambda: None) -> float:
    """Median wall time (ms) of ``fn`` over ``repeats`` calls, ``before``
    untimed ahead of each."""
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def run(args: argparse.Namespace) -> dict:
    """Fill a queue, time the tracker and scikit-learn.

    Returns:
        dict: The results (times in ms, fitted means).
    """
    from sklearn.mixture import GaussianMixture
    rng = np.random.default_rng(0)
    tracker = GMMThresholdTracker(queue_len=args.queue, min_queued=1)
    recent: List[torch.Tensor] = []

    def queue_one() -> None:
        samples = draw_confidences(args.batch, args.crop, rng)
        tracker.enqueue(as_cam(samples, 1))
        recent.append(samples.flatten())
        del recent[:-args.queue]

    for _ in range(args.queue):
        queue_one()
    tracker.refit()
    warm_ms = median_ms(tracker.refit, args.repeats, before=queue_one)
    cold_ms = median_ms(
        tracker.refit, args.repeats, before=tracker.num_fits.zero_)
    # the bound: EM never meets the tolerance and runs all max_iter steps
    slowest = GMMThresholdTracker(
        queue_len=args.queue, min_queued=1, tol=1e-300)
    slowest.load_state_dict(tracker.state_dict())
    slowest_ms = median_ms(
        slowest.refit, args.repeats, before=slowest.num_fits.zero_)
    cam = as_cam(draw_confidences(args.batch, args.crop, rng), args.classes)
    enqueue_ms = median_ms(lambda: tracker.enqueue(cam), args.repeats)
    # the fit the comparison is about: the final queue, fitted warm
    for _ in range(args.queue):
        queue_one()
        tracker.refit()
    samples = torch.cat(recent).double().numpy()
    kept = samples[samples > tracker.filter_thre][:, None]
    assert len(samples) == args.queue * args.batch * (args.crop // 16)**2
    assert len(kept) == tracker.num_samples
    result = dict(
        samples=len(samples),
        kept=len(kept),
        refit_warm_ms=warm_ms,
        refit_cold_ms=cold_ms,
        refit_100_steps_ms=slowest_ms,
        enqueue_ms=enqueue_ms,
        xi=tracker.current(),
        means=list(tracker.means),
        sklearn={})
    for name, kwargs in SKLEARN.items():
        times, model = [], None
        for seed in range(args.sklearn_repeats):
            start = time.perf_counter()
            model = GaussianMixture(
                n_components=2, random_state=seed, **kwargs).fit(kept)
            times.append(time.perf_counter() - start)
        means = sorted(model.means_.ravel().tolist())
        result['sklearn'][name] = dict(
            ms=statistics.median(times) * 1e3,
            em_steps=int(model.n_iter_),
            means=means,
            mean_diff=[a - b for a, b in zip(tracker.means, means)])
    return result


def markdown(r: dict, args: argparse.Namespace) -> str:
    """The results as a markdown table."""

    def fmt(values, spec):
        return ' / '.join(format(v, spec) for v in values)

    lines = [
        f"Queue {args.queue} x batch {args.batch} x "
        f"{(args.crop // 16) ** 2} = {r['samples']:,} samples, "
        f"{r['kept']:,} > 0.05; median of {args.repeats} "
        f"(scikit-learn: {args.sklearn_repeats}) runs.", '',
        '| step | median (ms) | means bg / fg | tracker - it, bg / fg '
        '| xi |', '| --- | --- | --- | --- | --- |',
        f"| tracker refit, warm | {r['refit_warm_ms']:.3f} "
        f"| {fmt(r['means'], '.4f')} | | {r['xi']:.4f} |",
        f"| tracker refit, cold | {r['refit_cold_ms']:.3f} | | | |",
        f"| tracker refit, cold, all 100 EM steps "
        f"| {r['refit_100_steps_ms']:.3f} | | | |",
        f"| tracker enqueue ({args.classes} x {args.crop}^2 CAM) "
        f"| {r['enqueue_ms']:.3f} | | | |"
    ]
    for name, sk in r['sklearn'].items():
        lines.append(f"| scikit-learn {name} ({sk['em_steps']} EM steps) "
                     f"| {sk['ms']:.1f} | {fmt(sk['means'], '.4f')} "
                     f"| {fmt(sk['mean_diff'], '+.1e')} | |")
    return '\n'.join(lines)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--crop', type=int, default=448)
    parser.add_argument('--queue', type=int, default=100)
    parser.add_argument('--classes', type=int, default=20,
                        help='CAM classes in the enqueue timing')
    parser.add_argument('--repeats', type=int, default=200)
    parser.add_argument('--sklearn-repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch intra-op threads')
    parser.add_argument('--out', help='also write the results as JSON here')
    return parser.parse_args()


def main() -> None:
    """Run the benchmark, print it and optionally save it."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    result = run(args)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}\n')
    print(markdown(result, args))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=vars(args), torch=torch.__version__,
                           **result), f, indent=1)


if __name__ == '__main__':
    main()
