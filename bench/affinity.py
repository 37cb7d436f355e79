"""Time and peak memory of the AuxSegNet(+) affinity modules on CPU.

Compares a plain non-local block (``F + W(A V)``, one task), the same block
with the AuxSegNet+ unary path (``dual``), both with the N x N affinity
materialised, and the full cross-task modules of AuxSegNet (``pairwise``)
and AuxSegNet+ (``dual``) with two tasks and fusion, as trained
(auxsegnet_plus.md 2.4-2.7). Inputs are random features at the 1/8 size of
each crop (321 -> 41 x 41, 512 -> 64 x 64).

Times: median of interleaved rounds (every variant once per round, after one
warm-up each) of a training step (forward, scalar loss = sum of the means of
every returned tensor, backward) and of a ``no_grad`` forward. Memory: the
increase of the peak RSS (``ru_maxrss``) over one training step, each
variant in a fresh subprocess.

Usage:
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python bench/affinity.py [--crops 321 512] [--batch 4] [--out r.json]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch

from mmseg_wsss.models.utils import CrossTaskDualAffinity


class Variant(NamedTuple):
    """One module configuration.

    Attributes:
        label (str): Name in the table.
        kwargs (dict): ``CrossTaskDualAffinity`` arguments.
        materialize (bool): Build the N x N affinity.
        cross (bool): Two tasks and fusion (timed ``--full-repeats`` times).
    """
    label: str
    kwargs: dict
    materialize: bool
    cross: bool


SINGLE = dict(fuse=False, with_sal=False)
VARIANTS = {
    'non-local':
    Variant('non-local (SDPA)', dict(mode='pairwise', **SINGLE), False,
            False),
    'dual':
    Variant('dual (SDPA)', dict(mode='dual', **SINGLE), False, False),
    'non-local-mat':
    Variant('non-local, materialised', dict(mode='pairwise', **SINGLE), True,
            False),
    'dual-mat':
    Variant('dual, materialised', dict(mode='dual', **SINGLE), True, False),
    'cross-pairwise':
    Variant('cross-task pairwise (AuxSegNet)', dict(mode='pairwise'), True,
            True),
    'cross-dual':
    Variant('cross-task dual (AuxSegNet+)', dict(mode='dual'), True, True),
}
# (variant, its reference) pairs whose time ratio is reported per round.
PAIRS = (('dual', 'non-local'), ('dual-mat', 'non-local-mat'),
         ('cross-dual', 'cross-pairwise'))
MAX_EXTRA = 0.05  # the bound on dual over non-local


def feature_size(crop: int) -> int:
    """Side of the output-stride-8 feature map of a ``crop`` input."""
    return (crop - 1) // 8 + 1


class Case:
    """A variant's module and random inputs at one feature size.

    Args:
        name (str): Key of :data:`VARIANTS`.
        size (int): Feature map side.
        batch (int): Batch size.
        channels (int): Feature channels.
    """

    def __init__(self, name: str, size: int, batch: int, channels: int):
        variant = VARIANTS[name]
        torch.manual_seed(0)
        self.module = CrossTaskDualAffinity(channels,
                                            **variant.kwargs).train()
        self.inputs = [
            torch.randn(batch, channels, size, size, requires_grad=True)
            for _ in range(2 if variant.cross else 1)
        ]
        self.materialize = variant.materialize

    def train_step(self) -> None:
        """Forward, scalar loss and backward."""
        self.module.zero_grad(set_to_none=True)
        for x in self.inputs:
            x.grad = None
        outs = self.module(*self.inputs, materialize=self.materialize)
        sum(out.mean() for out in outs if out is not None).backward()

    def forward(self) -> None:
        """Forward without autograd."""
        with torch.no_grad():
            self.module(*self.inputs, materialize=self.materialize)


def time_variants(names: List[str], size: int,
                  args: argparse.Namespace) -> Dict[str, dict]:
    """Step times (s) of every variant, interleaved round by round.

    Returns:
        dict: ``{name: {'train': [...], 'forward': [...]}}``, one entry per
        round the variant ran in.
    """
    cases = {name: Case(name, size, args.batch, args.channels)
             for name in names}
    for case in cases.values():
        case.train_step()
        case.forward()
    times = {name: dict(train=[], forward=[]) for name in names}
    for rnd in range(max(args.repeats, args.full_repeats)):
        for name, case in cases.items():
            if rnd >= (args.full_repeats
                       if VARIANTS[name].cross else args.repeats):
                continue
            for kind, step in (('train', case.train_step),
                               ('forward', case.forward)):
                start = time.perf_counter()
                step()
                times[name][kind].append(time.perf_counter() - start)
    return times


def peak_rss_mib(name: str, crop: int, args: argparse.Namespace) -> float:
    """Peak-RSS increase (MiB) of one training step, in a fresh process."""
    cmd = [
        sys.executable, __file__, '--variant', name, '--crops',
        str(crop), '--batch',
        str(args.batch), '--channels',
        str(args.channels), '--threads',
        str(args.threads)
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def measure_child(args: argparse.Namespace) -> None:
    """Print the peak-RSS increase (MiB) of one step of ``args.variant``."""
    case = Case(args.variant, feature_size(args.crops[0]), args.batch,
                args.channels)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    case.train_step()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) / 1024)  # ru_maxrss is in KiB on Linux


def paired_ratio(times: Dict[str, dict], name: str, ref: str,
                 kind: str) -> Optional[float]:
    """Median over rounds of ``time(name) / time(ref)``, None if absent."""
    if name not in times or ref not in times:
        return None
    return statistics.median(
        a / b for a, b in zip(times[name][kind], times[ref][kind]))


def run(args: argparse.Namespace) -> Tuple[List[dict], List[dict]]:
    """Measure every variant at every crop: memory first, then times.

    The memory subprocesses run before this process has allocated any
    activations (its heap is never trimmed), so the two never add up.

    Returns:
        tuple: Per (crop, variant) rows and per (crop, pair) ratios.
    """
    rows, ratios = [], []
    for crop in args.crops:
        for name in args.variants:
            print(f'crop {crop}: memory of {name}', file=sys.stderr)
            rows.append(
                dict(
                    crop=crop,
                    size=feature_size(crop),
                    variant=name,
                    peak_rss_mib=peak_rss_mib(name, crop, args)))
    for crop in args.crops:
        print(f'crop {crop}: timing', file=sys.stderr)
        times = time_variants(args.variants, feature_size(crop), args)
        for row in rows:
            if row['crop'] == crop:
                row.update(
                    train_s=times[row['variant']]['train'],
                    forward_s=times[row['variant']]['forward'],
                    train_median_s=statistics.median(
                        times[row['variant']]['train']),
                    forward_median_s=statistics.median(
                        times[row['variant']]['forward']))
        for name, ref in PAIRS:
            train = paired_ratio(times, name, ref, 'train')
            if train is not None:
                ratios.append(
                    dict(
                        crop=crop,
                        variant=name,
                        reference=ref,
                        train=train,
                        forward=paired_ratio(times, name, ref, 'forward')))
    return rows, ratios


def markdown(rows: List[dict], ratios: List[dict]) -> str:
    """The results as markdown tables."""
    ref = {(r['crop'], r['variant']): r for r in rows}
    lines = [
        '| crop | features (N) | variant | train step (ms) | x non-local '
        '| forward, no_grad (ms) | x non-local | peak RSS, train step (MiB) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        base = ref.get((r['crop'], 'non-local'))
        rel = [
            f"{r[key] / base[key]:.2f}" if base else '-'
            for key in ('train_median_s', 'forward_median_s')
        ]
        lines.append(
            f"| {r['crop']} | {r['size']}x{r['size']} ({r['size'] ** 2}) "
            f"| {VARIANTS[r['variant']].label} "
            f"| {r['train_median_s'] * 1e3:.0f} | {rel[0]} "
            f"| {r['forward_median_s'] * 1e3:.0f} | {rel[1]} "
            f"| {r['peak_rss_mib']:.0f} |")
    lines += [
        '', '| crop | variant / reference | extra time, train step '
        '| extra time, forward |', '| --- | --- | --- | --- |'
    ]
    for r in ratios:
        lines.append(f"| {r['crop']} | {r['variant']} / {r['reference']} "
                     f"| {(r['train'] - 1) * 100:+.1f}% "
                     f"| {(r['forward'] - 1) * 100:+.1f}% |")
    lines.append('')
    lines.append('Extra time: median over rounds of the per-round time ratio '
                 f'(bound for dual / non-local: +{MAX_EXTRA:.0%}).')
    return '\n'.join(lines)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--crops', type=int, nargs='+', default=[321, 512],
                        help='input crop sides; features are 1/8 of them')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--channels', type=int, default=128)
    parser.add_argument('--repeats', type=int, default=10,
                        help='timed rounds of the single-task variants')
    parser.add_argument('--full-repeats', type=int, default=2,
                        help='timed rounds of the cross-task variants')
    parser.add_argument('--threads', type=int, default=2,
                        help='torch intra-op threads')
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument('--out', help='also write the results as JSON here')
    parser.add_argument('--variant', choices=list(VARIANTS),
                        help='internal: print the peak-RSS increase of one '
                        'training step of this variant at --crops[0]')
    return parser.parse_args()


def main() -> None:
    """Run the benchmark, print it and optionally save it."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.variant:
        measure_child(args)
        return
    rows, ratios = run(args)
    malloc = {
        key: os.environ.get(key)
        for key in ('MALLOC_MMAP_MAX_', 'MALLOC_TRIM_THRESHOLD_')
    }
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'batch {args.batch}, channels {args.channels}, {malloc}\n')
    print(markdown(rows, ratios))
    if args.out:
        config = {k: v for k, v in vars(args).items() if k != 'variant'}
        config.update(torch=torch.__version__, malloc=malloc)
        with open(args.out, 'w') as f:
            json.dump(dict(config=config, rows=rows, ratios=ratios), f,
                      indent=1)


if __name__ == '__main__':
    main()
