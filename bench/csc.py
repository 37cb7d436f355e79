"""Time and memory of CoSA's contrastive separation loss (CSC) on CPU.

The paper's setting: 20 foreground classes, the ViT-B/16 CAM grid of a 448
crop (28 x 28 tokens), the assignment network's aux CAM at the crop size,
and the loss computed per GPU (no all-gather) on its batch: 2 images in the
VOC configs (2 GPUs x 2), 4 at COCO's batch. Up to 5 images (3920 tokens)
only the anchor bound acts, the contrast set holds every token; at 16
both bounds act. The worst case for the loss: every token is confident,
so ``Omega`` holds all ``batch x 28 x 28`` tokens (two
classes per image, foreground tokens at 0.9 and background ones at 0.05
against the threshold 0.5, perplexity 0.45 and 0.33 <= epsilon 1; checked
with the package's CPL and perplexity functions before timing).

Rows: the default bounds (at most 1024 anchors and 4096 contrast tokens,
cosa.md 2.11) and no bounds (every token of ``Omega`` an anchor and in the
contrast set), at ``--batches`` (default 2, 4 and 16: the paper's two
and a larger one, where the unbounded similarity matrix grows with the
square of the tokens). The
anchors are drawn ones; the loss drops an anchor without a positive or a
negative, which no anchor lacks here (hundreds of tokens per label). Time:
median forward + backward over ``--repeats`` runs after one warm-up run.
Memory: growth of the process's peak RSS over the first run, in a fresh
subprocess per row (``ru_maxrss``; run with the malloc settings of
docs/benchmarks.md so that freed memory is reused, not returned; the
output records them). Peak-RSS growth is coarse: a few MiB of noise.

Usage:
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python bench/csc.py [--batches 2 4 16] [--threads 2] [--out r.json]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Tuple

import torch

from mmseg_wsss.models.losses import ContrastiveSeparationLoss
from mmseg_wsss.pseudo_labels import cam_pseudo_labels, perplexity

NUM_CLASSES = 20
THRESHOLD = 0.5
MALLOC_VARS = ('MALLOC_MMAP_MAX_', 'MALLOC_TRIM_THRESHOLD_')


def make_inputs(batch: int, grid: int, crop: int,
                seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """CAM logits (B x C x grid^2, with grad), aux CAM (B x C x crop^2) and
    image labels (B x C) with two classes per image, every token confident.
    """
    gen = torch.Generator().manual_seed(seed)
    cam = torch.randn(batch, NUM_CLASSES, grid, grid, generator=gen)
    labels = torch.zeros(batch, NUM_CLASSES)
    owner = torch.randint(0, 3, (batch, grid, grid), generator=gen)
    aux = torch.full((batch, NUM_CLASSES, grid, grid), 0.05)
    for i in range(batch):
        classes = torch.randperm(NUM_CLASSES, generator=gen)[:2]
        labels[i, classes] = 1
        for k, c in enumerate(classes):
            aux[i, c][owner[i] == k + 1] = 0.9
    aux = aux * labels[..., None, None]  # label-masked, as the loss expects
    aux = torch.nn.functional.interpolate(aux, size=(crop, crop))
    return cam.requires_grad_(), aux, labels


def confident_tokens(aux: torch.Tensor, grid: int,
                     loss_fn: ContrastiveSeparationLoss) -> int:
    """Number of tokens in ``Omega`` (cosa.md 2.11 steps 1-3)."""
    pooled = torch.nn.functional.adaptive_avg_pool2d(aux, grid)
    _, confidence = cam_pseudo_labels(pooled, THRESHOLD)
    return int((perplexity(confidence, THRESHOLD, loss_fn.lambda_alpha,
                           loss_fn.lambda_beta) <= loss_fn.epsilon).sum())


def build_loss(bounded: bool, tokens: int) -> ContrastiveSeparationLoss:
    """The default CSC loss, or one whose bounds cover every token."""
    if bounded:
        return ContrastiveSeparationLoss()
    return ContrastiveSeparationLoss(max_anchors=tokens, max_contrast=tokens)


def measure(batch: int, bounded: bool, args: argparse.Namespace) -> dict:
    """Time (ms) and peak-RSS growth (MiB) of one row, in this process."""
    torch.manual_seed(0)  # the loss draws its anchors from the global RNG
    cam, aux, labels = make_inputs(batch, args.grid, args.crop)
    tokens = batch * args.grid**2
    loss_fn = build_loss(bounded, tokens)
    omega = confident_tokens(aux, args.grid, loss_fn)
    if omega != tokens:
        raise RuntimeError(f'{omega} of {tokens} tokens are confident')

    def run() -> float:
        cam.grad = None
        loss = loss_fn(cam, aux, labels, THRESHOLD)
        loss.backward()
        return loss.item()

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    value = run()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    anchors = tokens if not bounded else min(tokens, loss_fn.max_anchors)
    contrast = tokens if not bounded else min(tokens, loss_fn.max_contrast)
    return dict(batch=batch, bounded=bounded, tokens=tokens,
                anchors=anchors, contrast=contrast, loss=value,
                ms=statistics.median(times) * 1e3,
                peak_growth_mib=(after - before) / 1024)


def measure_child(batch: int, bounded: bool,
                  args: argparse.Namespace) -> dict:
    """:func:`measure` in a fresh process (clean peak RSS)."""
    cmd = [sys.executable, __file__, '--row', f'{batch}:{int(bounded)}',
           '--grid', str(args.grid), '--crop', str(args.crop),
           '--repeats', str(args.repeats), '--threads', str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or [f'exit {proc.returncode}']
        raise RuntimeError(f'row batch {batch}, bounded {bounded}: '
                           f'{lines[-1]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(rows: list, args: argparse.Namespace) -> str:
    """The rows as a markdown table."""
    default = ContrastiveSeparationLoss()
    malloc = ', '.join(f'{k}={os.environ.get(k, "unset")}'
                       for k in MALLOC_VARS)
    lines = [
        f'CSC forward + backward, {NUM_CLASSES} classes, {args.grid} x '
        f'{args.grid} grid, aux CAM {args.crop}^2, torch '
        f'{torch.__version__}, {args.threads} threads, median of '
        f'{args.repeats}; {malloc}.', '',
        '| batch | tokens in Omega | bounds | anchors x contrast | ms '
        '| peak RSS growth (MiB) |', '| --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        bounds = (f'{default.max_anchors} / {default.max_contrast}'
                  if r['bounded'] else 'none')
        lines.append(f"| {r['batch']} | {r['tokens']} | {bounds} "
                     f"| {r['anchors']} x {r['contrast']} | {r['ms']:.1f} "
                     f"| {r['peak_growth_mib']:.0f} |")
    return '\n'.join(lines)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batches', type=int, nargs='+',
                        default=[2, 4, 16])
    parser.add_argument('--grid', type=int, default=28)
    parser.add_argument('--crop', type=int, default=448)
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--threads', type=int, default=2,
                        help='torch intra-op threads')
    parser.add_argument('--row', help=argparse.SUPPRESS)
    parser.add_argument('--out', help='also write the results as JSON here')
    return parser.parse_args()


def main() -> None:
    """Run every row in its own process, print and optionally save them."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.row:
        batch, bounded = map(int, args.row.split(':'))
        print(json.dumps(measure(batch, bool(bounded), args)))
        return
    rows = [
        measure_child(batch, bounded, args) for batch in args.batches
        for bounded in (True, False)
    ]
    print(markdown(rows, args))
    if args.out:
        with open(args.out, 'w') as f:
            settings = {k: v for k, v in vars(args).items() if k != 'row'}
            settings.update({k: os.environ.get(k) for k in MALLOC_VARS})
            json.dump(dict(rows=rows, settings=settings), f, indent=2)


if __name__ == '__main__':
    main()
