"""PseudoLabelUpdateHook through the stock Runner on a tiny toy set."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import METRICS

from mmseg_wsss.datasets import WSSSVOCDataset
from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.utils.io import read_label_map, save_label_png

from ..auxsegnet_toy import tiny_auxsegnet_cfg


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=6, num_val=2, size=64, seed=3)
    return str(root)


@pytest.fixture(scope='module')
def two_stage_run(toy_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('run')
    torch.manual_seed(0)
    runner = Runner.from_cfg(tiny_auxsegnet_cfg(toy_root, work_dir))
    runner.train()
    return runner, work_dir


def _ids(toy_root):
    return open(os.path.join(toy_root, 'ImageSets/Segmentation/train.txt')
                ).read().split()


def test_two_stages_write_and_switch_labels(two_stage_run, toy_root):
    runner, work_dir = two_stage_run
    out = work_dir / 'pseudo_labels' / 'auxsegnet_plus'
    ids = _ids(toy_root)
    for stage in (0, 1):
        assert sorted(p.stem for p in (out / f'stage_{stage}').glob('*.png')
                      ) == sorted(ids)
        meta = json.load(open(out / f'stage_{stage}' / 'meta.json'))
        assert meta['complete'] and meta['info']['stage'] == stage
    # stage 0 fuses with the off-the-shelf saliency; stage 1 updates it
    assert not (out / 'stage_0' / 'saliency').exists()
    assert sorted(p.stem for p in (out / 'stage_1' / 'saliency').glob('*.png')
                  ) == sorted(ids)
    meta = json.load(open(out / 'stage_1' / 'meta.json'))
    assert meta['info']['iteration'] == 2
    assert meta['identity']['generator']['refine']
    labels = {
        s: [read_label_map(str(out / f'stage_{s}' / f'{i}.png')) for i in ids]
        for s in (0, 1)
    }
    assert any(not np.array_equal(a, b)
               for a, b in zip(labels[0], labels[1]))
    # the training data now comes from stage 1
    dataset = runner.train_dataloader.dataset
    assert dataset.pseudo_label_dir == str(out / 'stage_1')
    info = dataset.get_data_info(0)
    assert info['sal_label_path'] == str(out / 'stage_1' / 'saliency' /
                                         f"{info['img_id']}.png")
    # so does the labelling dataset (sal_update_ref='previous' reads it)
    hook = runner.hooks[-1]
    assert hook.label_dataset.get_data_info(0)['sal_label_path'] == \
        info['sal_label_path']
    sample = dataset[0]['data_samples']
    # the training crop is random; its labels must be values of stage 1's map
    values = set(np.unique(sample.gt_sem_seg.data.numpy())) - {255}
    assert values <= set(np.unique(labels[1][0]))


def test_labels_only_use_image_classes(two_stage_run, toy_root):
    _, work_dir = two_stage_run
    img_labels = json.load(open(os.path.join(toy_root, 'cls_labels.json')))
    for png in (work_dir / 'pseudo_labels' / 'auxsegnet_plus' /
                'stage_1').glob('*.png'):
        label = read_label_map(str(png))
        assert set(np.unique(label)) <= {0, 255, *img_labels[png.stem]}


def test_resume_at_boundary_regenerates_only_missing(two_stage_run, toy_root,
                                                     tmp_path):
    _, work_dir = two_stage_run
    stage_1 = work_dir / 'pseudo_labels' / 'auxsegnet_plus' / 'stage_1'
    files = sorted(stage_1.glob('*.png'))
    kept, removed = files[0], files[1]
    kept.write_bytes(kept.read_bytes())
    stamp = kept.stat().st_mtime_ns
    removed.unlink()
    meta = json.load(open(stage_1 / 'meta.json'))
    meta['complete'] = False  # as left by an interrupted labelling
    json.dump(meta, open(stage_1 / 'meta.json', 'w'))
    cfg = tiny_auxsegnet_cfg(toy_root, work_dir)
    cfg.load_from = str(work_dir / 'iter_2.pth')  # the stage boundary
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    assert removed.exists()
    assert json.load(open(stage_1 / 'meta.json'))['complete']
    assert kept.stat().st_mtime_ns == stamp
    assert not list(stage_1.rglob('.tmp_*'))


def test_resume_inside_stage_needs_complete_labels(two_stage_run, toy_root,
                                                   tmp_path):
    _, work_dir = two_stage_run
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path / 'run', stage_iters=4)
    cfg.load_from = str(work_dir / 'iter_2.pth')  # iteration 2 of stage 0
    cfg.resume = True
    with pytest.raises(FileNotFoundError, match=r'stage 0.*incomplete'):
        Runner.from_cfg(cfg).train()


def test_persistent_workers_refused(toy_root, tmp_path):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path)
    cfg.train_dataloader.num_workers = 1
    cfg.train_dataloader.persistent_workers = True
    with pytest.raises(ValueError, match='persistent_workers=False'):
        Runner.from_cfg(cfg).train()


def test_needs_the_stagewise_loop(toy_root, tmp_path):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    with pytest.raises(TypeError, match='StagewiseTrainLoop'):
        Runner.from_cfg(cfg).train()


def test_old_run_labels_are_not_reused(two_stage_run, toy_root, tmp_path):
    """A fresh run in an old work dir relabels: its model differs."""
    _, work_dir = two_stage_run
    new_dir = tmp_path / 'run'
    shutil.copytree(work_dir / 'pseudo_labels', new_dir / 'pseudo_labels')
    stage_0 = new_dir / 'pseudo_labels' / 'auxsegnet_plus' / 'stage_0'
    old = json.load(open(stage_0 / 'meta.json'))
    blank = np.full_like(read_label_map(str(next(stage_0.glob('*.png')))),
                         255)
    for png in stage_0.glob('*.png'):  # mark the old run's labels
        save_label_png(blank, str(png))
    cfg = tiny_auxsegnet_cfg(toy_root, new_dir, num_stages=1)
    cfg.randomness = dict(seed=123)  # another initialisation
    runner = Runner.from_cfg(cfg)
    runner.train()
    new = json.load(open(stage_0 / 'meta.json'))
    assert new['identity']['model'] != old['identity']['model']
    assert any((read_label_map(str(p)) != 255).any()
               for p in stage_0.glob('*.png'))
    log = open(next(new_dir.glob('*/*.log'))).read()
    assert 'relabelling' in log and 'model:' in log


class RecordBatches(Hook):
    """Image ids of every training batch, and dataset reads."""

    def __init__(self):
        self.batches = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.batches[runner.iter] = [
            s.metainfo['img_path'] for s in data_batch['data_samples']
        ]


def _recorded_run(cfg):
    runner = Runner.from_cfg(cfg)
    recorder = RecordBatches()
    runner.register_hook(recorder)
    return runner, recorder


def test_resume_inside_stage_keeps_data_order_without_replay(
        toy_root, tmp_path, monkeypatch):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path, stage_iters=3, num_stages=2)
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=-1)
    cfg.randomness = dict(seed=7)
    runner, full = _recorded_run(cfg)
    runner.train()
    reads = []
    original = WSSSVOCDataset.prepare_data

    def counting(self, idx):
        reads.append(self)
        return original(self, idx)

    monkeypatch.setattr(WSSSVOCDataset, 'prepare_data', counting)
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path, stage_iters=3, num_stages=2)
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=-1)
    cfg.randomness = dict(seed=7)
    cfg.load_from = str(tmp_path / 'iter_4.pth')  # inside stage 1
    cfg.resume = True
    runner, resumed = _recorded_run(cfg)
    runner.train()
    assert sorted(resumed.batches) == [4, 5]
    assert resumed.batches == {k: full.batches[k] for k in (4, 5)}
    train_reads = [r for r in reads if r is runner.train_dataloader.dataset]
    assert len(train_reads) == 2 * 2  # two batches of two, nothing skipped


@METRICS.register_module(force=True)
class ConstantMetric(BaseMetric):
    """A validation score that never improves."""

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        return dict(score=1.0)


def test_early_stop_ends_stages_and_restarts_schedule(toy_root, tmp_path):
    """mmengine's EarlyStoppingHook ends a stage, not the run."""
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path, stage_iters=5)
    cfg.train_cfg.val_interval = 1
    cfg.val_evaluator = dict(type='ConstantMetric')
    cfg.custom_hooks.append(
        dict(type='EarlyStoppingHook', monitor='score', rule='greater',
             patience=2, min_delta=0.1))
    runner = Runner.from_cfg(cfg)
    runner.train()
    # each stage: best at its first validation, two without gain, then stop
    assert runner.iter == 8
    lrs = runner.message_hub.get_scalar('train/lr').data[0]
    assert len(lrs) == 6  # iterations 0-2 and 5-7 ran
    np.testing.assert_allclose(lrs[3], lrs[0])  # stage 1 restarts the poly
    assert lrs[2] < lrs[1] < lrs[0]
    stage_1 = tmp_path / 'pseudo_labels' / 'auxsegnet_plus' / 'stage_1'
    assert json.load(open(stage_1 / 'meta.json'))['info']['iteration'] == 5
    assert torch.load(tmp_path / 'iter_5.pth', weights_only=False)['meta'][
        'iter'] == 5


@METRICS.register_module(force=True)
class ScriptedMetric(BaseMetric):
    """Validation scores from a list, one per validation."""

    scores = []

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        return dict(score=ScriptedMetric.scores.pop(0))


def test_early_stop_counts_afresh_in_every_stage(toy_root, tmp_path):
    """Stage 1 improves at every validation, below stage 0's best: it runs
    out (the paper's per-stage rule)."""
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path, stage_iters=3)
    cfg.train_cfg.val_interval = 1
    cfg.val_evaluator = dict(type='ScriptedMetric')
    ScriptedMetric.scores = [1., 2., 3., .5, .6, .7]
    cfg.custom_hooks.append(
        dict(type='EarlyStoppingHook', monitor='score', rule='greater',
             patience=2, min_delta=0.01))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 6 and not ScriptedMetric.scores


def test_previous_saliency_reference_survives_a_boundary_resume(
        toy_root, tmp_path, monkeypatch):
    """sal_update_ref='previous' reads the last stage's saliency labels,
    also when the run resumed at the boundary."""
    from mmseg_wsss.pseudo_labels.generators import auxsegnet
    used = []
    original = auxsegnet.image_saliency

    def recording(data_info, shape, updated=False):
        if updated:
            used.append(data_info.get('sal_label_path'))
        return original(data_info, shape, updated)

    monkeypatch.setattr(auxsegnet, 'image_saliency', recording)

    def cfg_():
        cfg = tiny_auxsegnet_cfg(toy_root, tmp_path, stage_iters=1,
                                 num_stages=3)
        cfg.custom_hooks[0].generator.sal_update_ref = 'previous'
        cfg.default_hooks.checkpoint.max_keep_ckpts = -1
        return cfg

    Runner.from_cfg(cfg_()).train()
    stage_1_sal = str(tmp_path / 'pseudo_labels' / 'auxsegnet_plus' /
                      'stage_1' / 'saliency')
    assert used and all(p.startswith(stage_1_sal) for p in used[-6:])
    shutil.rmtree(tmp_path / 'pseudo_labels' / 'auxsegnet_plus' / 'stage_2')
    used.clear()
    cfg = cfg_()
    cfg.load_from = str(tmp_path / 'iter_2.pth')
    cfg.resume = True
    Runner.from_cfg(cfg).train()
    assert len(used) == 6 and all(p.startswith(stage_1_sal) for p in used)


def test_wrapped_training_dataset_is_refused_clearly(toy_root, tmp_path):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path)
    cfg.train_dataloader.dataset = dict(
        type='RepeatDataset', times=2, dataset=cfg.train_dataloader.dataset)
    with pytest.raises(TypeError, match='use a WSSSVOCDataset.*RepeatDataset'):
        Runner.from_cfg(cfg).train()
