"""CoSA's SynthVOC config end to end on the toy set (issue 11,
Reliability): the stock Runner trains through the classification-only
warm-up and tests; a run stopped after a checkpoint and resumed ends exactly
where an uninterrupted run ends; tools/dist_train.sh trains it in two gloo
processes with the same thresholds and assignment network on both ranks.

Toy scale: 64 px images cropped to 64 (the config's 224 crop, shrunk),
batch 2, three iterations, the threshold fitted from the first queued
iteration (``min_queued=1``)."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmseg_wsss.datasets.toy import make_toy_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTH = osp.join(ROOT, 'configs', 'cosa',
                 'cosa_efficientnet-lite0_1600it_synthvoc-224.py')
TOY = osp.join(ROOT, 'configs', '_base_', 'datasets', 'toy.py')
CROP = (64, 64)
ITERS = 3
CLS_LOSSES = {'loss_cls', 'loss_cls_aux'}
SEG_LOSSES = {'loss_c2s', 'loss_c2s_aux', 'loss_s2c', 'loss_csc'}
TRACKERS = ('threshold', 'threshold_aux')
# two gloo processes on a shared CPU: generous, a hang still ends
DIST_TIMEOUT_S = 1500


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=8, num_val=2, size=64, seed=1)
    return str(root)


def _toy_cfg(data_root: str, work_dir, warmup: int, lead: int,
             deterministic: bool = False) -> Config:
    """The SynthVOC config on the toy set: random weights, batch 2, crop
    64, ``ITERS`` iterations of which ``warmup`` classification only, AN
    from ``lead`` iterations before the warm-up ends, no validation during
    training. ``deterministic`` turns the decoder's dropout off.

    The backbone is initialised to keep its activations' scale (Kaiming,
    fan-in): under the default init EfficientNet's features shrink to
    ~1e-9, their min-max normalised CAMs to ~0, and no sample would reach
    the threshold queue."""
    cfg = Config.fromfile(SYNTH)
    cfg.work_dir = str(work_dir)
    # a logger, message hub and visualizer of its own (mmengine keeps
    # instances by name)
    cfg.experiment_name = cfg.visualizer.name = osp.basename(str(work_dir))
    cfg.model.backbone.init_cfg = dict(
        type='Kaiming', layer='Conv2d', mode='fan_in')
    cfg.model.data_preprocessor.size = CROP
    toy = Config.fromfile(TOY)
    num_classes = len(toy.metainfo.classes)
    cfg.model.decode_head.num_classes = num_classes
    cfg.model.cam_head.num_classes = num_classes
    cfg.model.threshold.min_queued = 1
    if deterministic:
        cfg.model.decode_head.fc_dropout_ratio = 0.
        cfg.model.decode_head.dropout_ratio = 0.
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.dataset.metainfo = toy.metainfo
        loader.dataset.pop('saliency_dir', None)
        loader.num_workers = 0
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform.type == 'RandomResize':
            transform.scale = CROP
        elif transform.type == 'RandomCrop':
            transform.crop_size = CROP
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_iters = ITERS
    cfg.train_cfg.val_begin = ITERS + 1
    cfg.param_scheduler[0].end = ITERS
    hooks = {hook.type: hook for hook in cfg.custom_hooks}
    hooks['LossWarmupHook'].update(warmup_iters=warmup, lead=lead)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = ITERS
    return cfg


class _StepSpy(Hook):
    """Records, per training iteration, the warm-up flags the model ran
    with, the iterations its trackers have queued and the logged losses."""

    def __init__(self, store: list):
        self.store = store

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = runner.model
        self.store.append(
            dict(
                iter=runner.iter,
                enabled=model.seg_loss_enabled,
                upcoming=model.seg_loss_upcoming,
                queued=int(model.threshold.num_enqueued),
                losses={
                    key: float(value.detach())
                    for key, value in outputs.items()
                    if key.startswith('loss_')
                }))


class _StopAfter(Hook):
    """Ends training after ``iters`` iterations (the loop's stop request),
    as if the process were killed right after that checkpoint."""

    def __init__(self, iters: int):
        self.iters = iters

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 >= self.iters:
            runner.train_loop.stop_training = True


def _train(cfg: Config, *hooks: Hook) -> Runner:
    runner = Runner.from_cfg(cfg)
    for hook in hooks:
        runner.register_hook(hook, priority='LOWEST')
    runner.train()
    return runner


def _state(runner: Runner) -> dict:
    return {
        key: value.detach().clone()
        for key, value in runner.model.state_dict().items()
    }


def test_trains_through_the_warmup_and_tests(toy_root, tmp_path):
    """Iteration 0 is classification only without AN, iteration 1 still
    classification only but AN fills the queue (the hook's lead), iteration
    2 adds the pseudo-label losses; then ``runner.test()`` scores AN."""
    cfg = _toy_cfg(toy_root, tmp_path / 'run', warmup=2, lead=1)
    seen = []
    runner = _train(cfg, _StepSpy(seen))
    assert [(s['enabled'], s['upcoming'], s['queued']) for s in seen] == [
        (False, False, 0), (False, True, 1), (True, True, 2)]
    assert [set(s['losses']) for s in seen] == [CLS_LOSSES] * 2 + [
        CLS_LOSSES | SEG_LOSSES]
    assert all(torch.isfinite(torch.tensor(list(s['losses'].values()))).all()
               for s in seen)
    log = open(next((tmp_path / 'run').glob('*/*.log'))).read()
    assert 'segmentation losses on from iter 2' in log
    lines = [line for line in log.splitlines() if 'Iter(train)' in line]
    assert len(lines) == ITERS
    assert ['loss_c2s' in line and 'loss_s2c' in line for line in lines] == [
        False, False, True]
    assert (tmp_path / 'run' / f'iter_{ITERS}.pth').exists()
    metrics = runner.test()
    assert 0 <= metrics['mIoU'] <= 100


def test_kill_and_resume_is_exact(toy_root, tmp_path):
    """A run stopped after iteration 1 (its checkpoint) and resumed to 3
    ends with the online and assignment weights, the trackers' queues,
    fits and thresholds of an uninterrupted run, bit for bit, and runs the
    remaining iterations with the same warm-up flags and losses.

    AN runs from iteration 0 (lead 2 = warm-up 2), so the checkpoint is
    taken inside the warm-up with a queued iteration and a fitted
    threshold. Dropout is off: mmengine's checkpoints hold no random state
    (the torch stream after a resume is not where the uninterrupted run's
    is), so dropout masks would differ; every other random draw (the data
    pipeline's numpy stream, replayed by the loop's data skipping; the
    sampler's own generator) is the same."""
    stop = 1

    def cfg_of(name):
        cfg = _toy_cfg(
            toy_root, tmp_path / name, warmup=2, lead=2, deterministic=True)
        cfg.default_hooks.checkpoint.interval = stop
        return cfg

    whole = []
    reference = _state(_train(cfg_of('whole'), _StepSpy(whole)))
    assert [s['enabled'] for s in whole] == [False, False, True]
    assert [s['queued'] for s in whole] == [1, 2, 3]

    before = []
    _train(cfg_of('stopped'), _StepSpy(before), _StopAfter(stop))
    assert before == whole[:stop]
    ckpt = torch.load(
        tmp_path / 'stopped' / f'iter_{stop}.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == stop
    state = ckpt['state_dict']
    assert int(state['assignment.steps']) == stop + 1  # the copy + 1 update
    assert int(state['threshold.num_enqueued']) == stop
    assert int(state['threshold.num_fits']) == stop
    assert not (tmp_path / 'stopped' / f'iter_{ITERS}.pth').exists()

    cfg = cfg_of('stopped')
    cfg.resume = True  # from the work dir's last checkpoint
    cfg.experiment_name = cfg.visualizer.name = 'resumed'
    after = []
    resumed = _state(_train(cfg, _StepSpy(after)))
    assert after == whole[stop:]
    assert resumed.keys() == reference.keys()
    for prefix in ('online.', 'assignment.') + TRACKERS:
        keys = [key for key in reference if key.startswith(prefix)]
        assert keys, prefix
        for key in keys:
            assert torch.equal(resumed[key], reference[key]), key
    # AN is not ON (the average did not restart from a copy at the resume)
    assert not torch.equal(
        reference['assignment.module.cam_head.classifier.weight'],
        reference['online.cam_head.classifier.weight'])


# Registered in each training process (custom_imports): per iteration the
# warm-up flag; after training, AN's and ON's parameters and the trackers'
# state of this rank.
PROBE = """
import json

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


def _model(runner):
    model = runner.model
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class CoSARankProbe(Hook):

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = _model(runner)
        with open(f'{runner.work_dir}/flags_rank{runner.rank}.jsonl',
                  'a') as f:
            f.write(json.dumps(dict(
                enabled=model.seg_loss_enabled,
                losses=sorted(k for k in outputs if k.startswith('loss_'))))
                + '\\n')

    def after_train(self, runner):
        model = _model(runner)
        state = dict(
            online=dict(model.online.named_parameters()),
            assignment=dict(model.assignment.module.named_parameters()),
            assignment_buffers={
                n: b for n, b in model.assignment.module.named_buffers()
                if b.is_floating_point()},
            steps=model.assignment.steps,
            threshold=model.threshold.state_dict(),
            threshold_aux=model.threshold_aux.state_dict())
        torch.save({k: {n: t.detach().clone() for n, t in v.items()}
                    if isinstance(v, dict) else v.clone()
                    for k, v in state.items()},
                   f'{runner.work_dir}/state_rank{runner.rank}.pth')
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_training(toy_root, tmp_path):
    """Two gloo processes, mmengine's DDP without ``find_unused_parameters``:
    iteration 1's forward fails if warm-up iteration 0 left a parameter out
    of the graph, iteration 2's if post-warm-up iteration 1 did. After
    training both ranks hold the same queue (each entry the sum of the
    ranks' samples), the same fitted thresholds and the same AN, parameters
    and BN running statistics (EMAAssignmentHook averages AN's buffers over
    the ranks; ON's differ, as any BN under mmengine's DDP,
    ``broadcast_buffers=False``)."""
    (tmp_path / 'cosa_rank_probe.py').write_text(PROBE)
    work_dir = tmp_path / 'run'
    cfg = _toy_cfg(toy_root, work_dir, warmup=1, lead=1)
    assert not cfg.get('find_unused_parameters', False)
    cfg.custom_imports.imports.append('cosa_rank_probe')
    cfg.custom_hooks.append(dict(type='CoSARankProbe'))
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    # dist_train.sh runs `python`: make it this interpreter
    path = os.pathsep.join([osp.dirname(sys.executable), os.environ['PATH']])
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PORT=str(_free_port()),
        PATH=path,
        PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh',
         str(cfg_file), '2', '--work-dir',
         str(work_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=DIST_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(next(work_dir.glob('*/*.log'))).read()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'segmentation losses on from iter 1' in log
    assert (work_dir / f'iter_{ITERS}.pth').exists()

    for rank in (0, 1):
        flags = [
            json.loads(line)
            for line in open(work_dir / f'flags_rank{rank}.jsonl')
        ]
        assert [f['enabled'] for f in flags] == [False, True, True]
        assert set(flags[-1]['losses']) == CLS_LOSSES | SEG_LOSSES
    states = [
        torch.load(work_dir / f'state_rank{rank}.pth', map_location='cpu')
        for rank in (0, 1)
    ]
    for name in TRACKERS:
        first, second = (state[name] for state in states)
        assert int(first['num_enqueued']) == ITERS
        assert int(first['num_fits']) == ITERS
        assert first['queue'].sum() > 0
        for key in first:
            assert torch.equal(first[key], second[key]), (name, key)
    assert int(states[0]['steps']) == int(states[1]['steps']) == ITERS + 1
    assert states[0]['assignment_buffers']  # the decoder's BN statistics
    for net in ('online', 'assignment', 'assignment_buffers'):
        first, second = (state[net] for state in states)
        assert first.keys() == second.keys()
        for key in first:
            assert torch.equal(first[key], second[key]), (net, key)
    key = 'cam_head.classifier.weight'
    assert not torch.equal(states[0]['assignment'][key],
                           states[0]['online'][key])
