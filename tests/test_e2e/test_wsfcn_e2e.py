"""WS-FCN's SynthVOC config end to end on the toy set: the stock Runner
trains through the warm-up and tests with the WS-FCN procedure, and
tools/dist_train.sh trains it in two gloo processes."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmseg_wsss.datasets.toy import make_toy_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTH = osp.join(ROOT, 'configs', 'wsfcn',
                 'wsfcn_efficientnet-lite0_1600it_synthvoc-224.py')


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=8, num_val=2, size=64, seed=1)
    return str(root)


def _toy_cfg(data_root: str, work_dir, iters: int, warmup: int) -> Config:
    """The SynthVOC config on the toy set: random weights, batch 2."""
    cfg = Config.fromfile(SYNTH)
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.init_cfg = None
    toy = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/toy.py'))
    cfg.model.decode_head.num_classes = len(toy.metainfo.classes)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.dataset.metainfo = toy.metainfo
        loader.dataset.pop('saliency_dir', None)
        loader.num_workers = 0
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = iters
    cfg.param_scheduler[0].end = iters
    cfg.custom_hooks[0].warmup_iters = warmup
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    return cfg


class _LossSpy(Hook):
    """Records the pseudo-GT share and ``decode.loss_seg`` of every
    iteration."""

    def __init__(self, store):
        self.store = store

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.store.append((float(outputs['decode.pseudo_gt_ratio']),
                           float(outputs['decode.loss_seg'])))


def test_trains_through_the_warmup_and_tests(toy_root, tmp_path):
    """Three iterations, one of warm-up: no pseudo GT is made during the
    warm-up and it is after; then val and test run the WS-FCN procedure
    (here with flip)."""
    cfg = _toy_cfg(toy_root, tmp_path, iters=3, warmup=1)
    cfg.model.test_cfg.flip = True
    runner = Runner.from_cfg(cfg)
    seen = []
    runner.register_hook(_LossSpy(seen), priority='LOWEST')
    runner.train()
    assert seen[0] == (0, 0)
    assert all(ratio > 0 for ratio, _ in seen[1:])
    assert runner.model.seg_loss_enabled
    metrics = runner.test()
    assert 0 <= metrics['mIoU'] <= 100


# Registered in each training process (custom_imports): writes the first
# random number each rank draws after every iteration, i.e. where its
# dropout / stochastic-gate stream stands.
PROBE = """
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RandomStreamProbe(Hook):

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        path = f'{runner.work_dir}/rand_rank{runner.rank}.txt'
        with open(path, 'a') as f:
            f.write(f'{torch.rand(1).item()!r}\\n')
"""


def _dist_train(cfg_file, work_dir, port, pythonpath):
    # dist_train.sh runs `python`: make it this interpreter
    path = os.pathsep.join([osp.dirname(sys.executable), os.environ['PATH']])
    env = dict(
        os.environ, OMP_NUM_THREADS='1', PORT=str(port), PATH=path,
        PYTHONPATH=os.pathsep.join([pythonpath, ROOT]))
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg_file), '2', '--work-dir',
         str(work_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [(work_dir / f'rand_rank{rank}.txt').read_text().split()
            for rank in (0, 1)]


def test_two_process_training(toy_root, tmp_path):
    """FCA keeps the branch BNs the code never calls: the config lets DDP
    find unused parameters, so every iteration (warm-up and after) reduces.
    Each rank draws its own dropout / gate masks, and a second run with the
    same seed draws the same ones."""
    (tmp_path / 'rand_probe.py').write_text(PROBE)
    cfg = _toy_cfg(toy_root, tmp_path / 'run', iters=3, warmup=1)
    assert cfg.find_unused_parameters
    cfg.custom_imports.imports.append('rand_probe')
    cfg.custom_hooks.append(dict(type='RandomStreamProbe'))
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    first = _dist_train(cfg_file, tmp_path / 'run', 29627, str(tmp_path))
    log = open(next((tmp_path / 'run').glob('*/*.log'))).read()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'segmentation losses on from iter 1' in log
    assert (tmp_path / 'run' / 'iter_3.pth').exists()
    assert len(first[0]) == 3 and first[0] != first[1]
    again = _dist_train(cfg_file, tmp_path / 'again', 29628, str(tmp_path))
    assert again == first
