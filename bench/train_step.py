"""Time and peak memory of one training step of every method.

Each method is built from its config (``MODELS.build(cfg.model)``, no
pretrained checkpoint) with its optimiser (``build_optim_wrapper``) and
trained with ``model.train_step`` on the same synthetic batch: what a
dataloader hands over, i.e. un-normalised uint8 ``3 x crop x crop`` images
and SegDataSamples with ``gt_sem_seg`` (21 classes and 255),
``gt_img_labels`` (multi-hot over 20 foreground classes, at least one set)
and ``gt_saliency`` ({0, 1, 255}); each model reads what it needs. A method
trained on several views of a crop (``WeakStrongViews`` in its training
pipeline: CoSA) gets them stacked, ``3k x crop x crop``.

Times: after ``--warmup`` untimed rounds, ``--rounds`` rounds each run one
step of every method (the order rotating by one per round); per method the
median step time and the median over rounds of its time divided by the
reference's (LargeFOV) time in that round. A method with an entry in
:data:`NECESSARY_PASSES` also times, in the same rounds, the passes its step
cannot do without (CoSA: ON forward + backward, AN's forwards): ``overhead``
is the median per-round step time divided by that. Memory, each method in
a fresh subprocess: CPU, the increase of the peak RSS (``ru_maxrss``) over
the first training step after building (model, optimiser state, activations;
``peak`` is the absolute peak RSS of that process); CUDA,
``torch.cuda.max_memory_allocated`` over that step.

A method is added by one line in :data:`METHODS` (or ``--configs
NAME=CONFIG ...``). A method that fails to build or step is reported with
its error and left out of the table.

Usage (2 CPU cores, as docs/benchmarks.md)::

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python bench/train_step.py --threads 2 --rounds 10 \\
        --out work_dirs/bench/train_step.json
"""
import argparse
import copy
import json
import logging
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg_wsss.structures import stack_img_labels

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# (name, config): SynthVOC, EfficientNet-Lite0, crop 224, batch 16.
METHODS: List[Tuple[str, str]] = [
    ('cam', 'configs/cam_baseline/'
     'cam_efficientnet-lite0_800it_synthvoc-224.py'),
    ('largefov', 'configs/cam_baseline/'
     'largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py'),
    ('auxsegnet', 'configs/auxsegnet/'
     'auxsegnet_efficientnet-lite0_4x200it_synthvoc-224.py'),
    ('auxsegnet+', 'configs/auxsegnet_plus/'
     'auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py'),
    ('ssss', 'configs/wsfcn/ssss_efficientnet-lite0_1600it_synthvoc-224.py'),
    ('wsfcn', 'configs/wsfcn/wsfcn_efficientnet-lite0_1600it_synthvoc-224.py'),
    ('cian', 'configs/cian/cian_efficientnet-lite0_2x400it_synthvoc-224.py'),
    ('cosa', 'configs/cosa/cosa_efficientnet-lite0_1600it_synthvoc-224.py'),
]
REFERENCE = 'largefov'
NUM_CLASSES = 21
IGNORE_INDEX = 255
MALLOC_KEYS = ('MALLOC_MMAP_MAX_', 'MALLOC_TRIM_THRESHOLD_')


def drop_pretrained(cfg):
    """Remove checkpoint initialisation (``Pretrained`` init_cfgs and
    ``pretrained`` paths) anywhere in a model config, in place."""
    if isinstance(cfg, dict):
        if cfg.get('pretrained') is not None:
            cfg['pretrained'] = None
        init = cfg.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            cfg['init_cfg'] = None
        elif isinstance(init, list):
            cfg['init_cfg'] = [
                c for c in init if c.get('type') != 'Pretrained'
            ] or None
        for value in cfg.values():
            drop_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            drop_pretrained(value)
    return cfg


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Hide the current MMLogger's records below ERROR: ``init_weights`` and
    the optimiser constructor log one per parameter (frozen ones warn)."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def cosa_passes(model: torch.nn.Module, data: dict) -> None:
    """CoSA's necessary compute (issue 11, Cost): the online network's
    forward and backward on the strong view (channels 3-5) and the
    assignment network's forwards (``pseudo_scales`` and flips) on the weak
    view (channels 0-2).

    Args:
        model (CoSA): The segmentor, in training mode.
        data (dict): Its data preprocessor's output (``inputs``
            B x 6 x H x W, ``data_samples``).
    """
    inputs = data['inputs']
    out = model.online(inputs[:, 3:])
    sum(value.sum() for key, value in out.items() if key != 'feats').backward()
    model.multiscale_outputs(
        model.assignment_net,
        inputs[:, :3],
        stack_img_labels(data['data_samples']).to(inputs),
        model.pseudo_scales,
        with_seg=model.loss_s2c is not None)


#: Per segmentor type: ``passes(model, data)`` runs the passes a training
#: step cannot do without, for the step's overhead beyond them.
NECESSARY_PASSES: Dict[str, Callable[[torch.nn.Module, dict], None]] = {
    'CoSA': cosa_passes
}


def num_views(cfg: Config) -> int:
    """Views per image of a config's training input: 2 with
    ``WeakStrongViews`` in its training pipeline, else 1."""
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    types = [t.get('type') for t in dataset.get('pipeline', [])]
    return 2 if 'WeakStrongViews' in types else 1


def with_views(batch: dict, views: int) -> dict:
    """A copy of ``batch`` whose images hold ``views`` views each,
    ``3 * views x crop x crop``: the image, then its inverse ``255 - x``
    (a photometric change of the same geometry, as ``WeakStrongViews``
    packs weak || strong)."""
    data = copy.deepcopy(batch)
    if views > 1:
        data['inputs'] = [
            torch.cat([image] + [255 - image] * (views - 1))
            for image in data['inputs']
        ]
    return data


def make_batch(batch_size: int, crop: int, seed: int = 0) -> dict:
    """A dataloader batch of random images and annotations.

    Returns:
        dict: ``inputs`` (list of ``3 x crop x crop`` uint8 tensors) and
        ``data_samples`` (SegDataSamples with ``gt_sem_seg``,
        ``gt_img_labels`` and ``gt_saliency``).
    """
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    shape = (1, crop, crop)
    for _ in range(batch_size):
        inputs.append(
            torch.randint(0, 256, (3, crop, crop), generator=gen,
                          dtype=torch.uint8))
        seg = torch.randint(0, NUM_CLASSES, shape, generator=gen)
        seg[torch.rand(shape, generator=gen) < 0.1] = IGNORE_INDEX
        sal = torch.randint(0, 2, shape, generator=gen).float()
        sal[torch.rand(shape, generator=gen) < 0.1] = IGNORE_INDEX
        labels = (torch.rand(NUM_CLASSES - 1, generator=gen) < 0.15).float()
        labels[torch.randint(0, NUM_CLASSES - 1, (1, ), generator=gen)] = 1.
        sample = SegDataSample(
            metainfo=dict(img_shape=(crop, crop), ori_shape=(crop, crop)))
        sample.gt_sem_seg = PixelData(data=seg)
        sample.gt_saliency = PixelData(data=sal)
        sample.set_data(dict(gt_img_labels=labels))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


class Method:
    """A method's model and optimiser, built from its config.

    Args:
        name (str): Name in the results.
        config (str): Config file, absolute or relative to the repository.
        crop (int): Input side; the data preprocessor pads to it.
        device (str): ``cpu`` or ``cuda``.
    """

    def __init__(self, name: str, config: str, crop: int, device: str):
        self.name = name
        self.config = config
        cfg = Config.fromfile(osp.join(ROOT, config))
        model_cfg = drop_pretrained(copy.deepcopy(cfg.model))
        if model_cfg.get('data_preprocessor') is not None:
            model_cfg.data_preprocessor.size = (crop, crop)
        self.views = num_views(cfg)
        torch.manual_seed(0)
        self.model = MODELS.build(model_cfg)
        self.passes = NECESSARY_PASSES.get(type(self.model).__name__)
        with quiet_logs():
            self.model.init_weights()
            self.model.to(device).train()
            self.optim_wrapper: OptimWrapper = build_optim_wrapper(
                self.model, ConfigDict(cfg.optim_wrapper))
        self.device = device

    def step(self, batch: dict) -> Tuple[float, float]:
        """One ``train_step`` on a copy of ``batch``.

        Returns:
            tuple: Wall time (s) and the total loss.
        """
        data = with_views(batch, self.views)
        self._sync()
        start = time.perf_counter()
        log_vars = self.model.train_step(data, self.optim_wrapper)
        self._sync()
        return time.perf_counter() - start, log_vars['loss'].item()

    def time_passes(self, batch: dict) -> Optional[float]:
        """Wall time (s) of the method's :data:`NECESSARY_PASSES` on a copy
        of ``batch`` (preprocessed first, untimed); None without an entry.
        """
        if self.passes is None:
            return None
        data = self.model.data_preprocessor(
            with_views(batch, self.views), True)
        self._sync()
        start = time.perf_counter()
        self.passes(self.model, data)
        self._sync()
        seconds = time.perf_counter() - start
        self.optim_wrapper.zero_grad()
        return seconds

    def _sync(self) -> None:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize(self.device)


def build_methods(methods: Sequence[Tuple[str, str]], args: argparse.Namespace,
                  batch: dict) -> Tuple[Dict[str, Method], Dict[str, str]]:
    """Build every method and run ``--warmup`` steps of each.

    Returns:
        tuple: The working methods by name, and the errors of the others.
    """
    built, errors = {}, {}
    for name, config in methods:
        print(f'building {name}', file=sys.stderr)
        try:
            method = Method(name, config, args.crop, args.device)
            for _ in range(args.warmup):
                method.step(batch)
        except Exception as e:  # a method under construction elsewhere
            errors[name] = f'{type(e).__name__}: {e}'
            print(f'{name} left out: {errors[name]}', file=sys.stderr)
            continue
        built[name] = method
    return built, errors


def time_methods(methods: Dict[str, Method], batch: dict,
                 rounds: int) -> Dict[str, dict]:
    """Step times (s) and losses, one step per method per round, each
    followed by the method's necessary passes where it has them.

    Returns:
        dict: ``{name: {'times': [...], 'losses': [...]}}``, plus
        ``'passes': [...]`` (s) for a method with necessary passes.
    """
    names = list(methods)
    out = {name: dict(times=[], losses=[]) for name in names}
    for rnd in range(rounds):
        shift = rnd % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, loss = methods[name].step(batch)
            out[name]['times'].append(seconds)
            out[name]['losses'].append(loss)
            passes = methods[name].time_passes(batch)
            if passes is not None:
                out[name].setdefault('passes', []).append(passes)
    return out


def measure_child(args: argparse.Namespace) -> None:
    """Print (JSON) the memory of one training step of ``--memory-of``."""
    name, config = args.memory_of.split('=', 1)
    batch = make_batch(args.batch_size, args.crop)
    method = Method(name, config, args.crop, args.device)
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats(args.device)
        before = torch.cuda.memory_allocated(args.device)
        method.step(batch)
        peak = torch.cuda.max_memory_allocated(args.device)
        step, peak = (peak - before) / 2**20, peak / 2**20
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method.step(batch)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is in KiB on Linux
        step, peak = (after - before) / 1024, after / 1024
    print(json.dumps(dict(step_mib=step, peak_mib=peak)))


def measure_memory(name: str, config: str,
                   args: argparse.Namespace) -> dict:
    """Memory of one training step of a method, in a fresh process.

    Returns:
        dict: ``step_mib`` and ``peak_mib``, or ``error``.
    """
    cmd = [
        sys.executable, osp.abspath(__file__), '--memory-of',
        f'{name}={config}', '--batch-size', str(args.batch_size), '--crop',
        str(args.crop), '--device', args.device
    ]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or [f'exit {proc.returncode}']
        return dict(error=lines[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    """Measure memory (subprocesses first, before this process allocates
    activations), then interleaved times; ratios to ``--reference``.

    Returns:
        dict: ``settings`` and ``methods`` (per name: ``config``,
        ``times_s``, ``median_s``, ``ratios``, ``ratio``, ``last_loss``,
        memory, or ``error``; with necessary passes also ``passes_s``,
        ``passes_median_s`` and ``overhead``, the median per-round step /
        passes time).
    """
    methods = parse_methods(args.configs)
    if args.reference not in dict(methods):
        raise ValueError(f'reference {args.reference!r} is not among '
                         f'{[name for name, _ in methods]}')
    results = {name: dict(config=config) for name, config in methods}
    if args.memory:
        for name, config in methods:
            print(f'memory of {name}', file=sys.stderr)
            results[name].update(measure_memory(name, config, args))
    batch = make_batch(args.batch_size, args.crop)
    built, errors = build_methods(methods, args, batch)
    if args.reference not in built:
        raise RuntimeError(f'reference {args.reference} failed: '
                           f'{errors[args.reference]}')
    for name, error in errors.items():
        results[name]['error'] = error
    print('timing', file=sys.stderr)
    times = time_methods(built, batch, args.rounds)
    ref = times[args.reference]['times']
    for name, measured in times.items():
        ratios = [t / r for t, r in zip(measured['times'], ref)]
        results[name].update(
            times_s=measured['times'],
            median_s=statistics.median(measured['times']),
            ratios=ratios,
            ratio=statistics.median(ratios),
            last_loss=measured['losses'][-1])
        if 'passes' in measured:
            results[name].update(
                passes_s=measured['passes'],
                passes_median_s=statistics.median(measured['passes']),
                overhead=statistics.median(
                    t / p for t, p in zip(measured['times'],
                                          measured['passes'])))
    settings = {
        key: getattr(args, key)
        for key in ('batch_size', 'crop', 'rounds', 'warmup', 'device',
                    'reference')
    }
    settings.update(
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        malloc={key: os.environ.get(key)
                for key in MALLOC_KEYS})
    return dict(settings=settings, methods=results)


def markdown(result: dict) -> str:
    """The results as a markdown table (failed methods listed below)."""
    settings = result['settings']
    memory = ('peak RSS' if settings['device'] == 'cpu' else
              'max allocated')
    lines = [
        f"| method | step (s) | x {settings['reference']} | x passes "
        f'| step memory (MiB) | {memory} (MiB) | config |',
        '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    failed = []
    for name, res in result['methods'].items():
        if 'median_s' not in res:
            failed.append(f"- {name}: {res.get('error')}")
            continue
        mem = [
            f'{res[key]:.0f}' if key in res else '-'
            for key in ('step_mib', 'peak_mib')
        ]
        overhead = f"{res['overhead']:.2f}" if 'overhead' in res else '-'
        lines.append(f"| {name} | {res['median_s']:.3f} | {res['ratio']:.2f} "
                     f"| {overhead} | {mem[0]} | {mem[1]} "
                     f"| `{res['config']}` |")
    lines += ['', f"batch {settings['batch_size']}, crop {settings['crop']}"
              f", {settings['device']}, {settings['threads']} threads, "
              f"median of {settings['rounds']} rounds; x: median per-round "
              'time ratio; x passes: step time over the necessary passes '
              "(CoSA: ON forward + backward, AN's forwards)."]
    if failed:
        lines += ['', 'Left out:'] + failed
    return '\n'.join(lines)


def parse_methods(items: Optional[Sequence[str]]) -> List[Tuple[str, str]]:
    """``NAME=CONFIG`` strings as (name, config) pairs; METHODS if None."""
    if not items:
        return list(METHODS)
    pairs = []
    for item in items:
        name, sep, config = item.partition('=')
        if not sep or not name or not config:
            raise ValueError(f'--configs takes NAME=CONFIG, got {item!r}')
        pairs.append((name, config))
    return pairs


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--configs', nargs='+', metavar='NAME=CONFIG',
        help='methods to compare (default: METHODS of this file)')
    parser.add_argument('--reference', default=REFERENCE,
                        help='method the time ratios refer to')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--crop', type=int, default=224)
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed steps of each method')
    parser.add_argument('--threads', type=int,
                        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:i]')
    parser.add_argument('--no-memory', dest='memory', action='store_false',
                        help='skip the memory subprocesses')
    parser.add_argument(
        '--out', help='write JSON here and the table next to it (.md)')
    parser.add_argument('--memory-of', metavar='NAME=CONFIG',
                        help='internal: print the memory of one step')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Optional[dict]:
    """Run the benchmark, print the table and optionally save it."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    if args.memory_of:
        measure_child(args)
        return None
    result = run(args)
    table = markdown(result)
    print(table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
        with open(osp.splitext(args.out)[0] + '.md', 'w') as f:
            f.write(table + '\n')
    return result


if __name__ == '__main__':
    main()
