"""PseudoLabelUpdateHook through the stock Runner on a tiny toy set."""
import json
import os

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner
from mmseg.registry import METRICS

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.utils.io import load_label_png

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
        assert json.load(open(out / f'stage_{stage}' / 'meta.json'))[
            'stage'] == stage
    # stage 0 fuses with the off-the-shelf saliency; stage 1 updates it
    assert not (out / 'stage_0' / 'saliency').exists()
    assert sorted(p.stem for p in (out / 'stage_1' / 'saliency').glob('*.png')
                  ) == sorted(ids)
    meta = json.load(open(out / 'stage_1' / 'meta.json'))
    assert meta['iteration'] == 2 and meta['generator']['refine']
    labels = {
        s: [load_label_png(str(out / f'stage_{s}' / f'{i}.png')) for i in ids]
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
    sample = dataset[0]['data_samples']
    # the training crop is random; its labels must be values of stage 1's map
    values = set(np.unique(sample.gt_sem_seg.data.numpy())) - {255}
    assert values <= set(np.unique(labels[1][0]))


def test_labels_only_use_image_classes(two_stage_run, toy_root):
    _, work_dir = two_stage_run
    img_labels = json.load(open(os.path.join(toy_root, 'cls_labels.json')))
    for png in (work_dir / 'pseudo_labels' / 'auxsegnet_plus' /
                'stage_1').glob('*.png'):
        label = load_label_png(str(png))
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
    (stage_1 / 'meta.json').unlink()
    cfg = tiny_auxsegnet_cfg(toy_root, work_dir)
    cfg.load_from = str(work_dir / 'iter_2.pth')  # the stage boundary
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    assert removed.exists() and (stage_1 / 'meta.json').exists()
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


@METRICS.register_module(force=True)
class ConstantMetric(BaseMetric):
    """A validation score that never improves."""

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        return dict(score=1.0)


def test_early_stop_ends_stages_and_restarts_schedule(toy_root, tmp_path):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path, stage_iters=5)
    cfg.train_cfg.val_interval = 1
    cfg.val_evaluator = dict(type='ConstantMetric')
    cfg.custom_hooks[0].update(early_stop_patience=2, early_stop_metric='score')
    runner = Runner.from_cfg(cfg)
    runner.train()
    # each stage: best at its first validation, two without gain, then stop
    assert runner.iter == 10
    lrs = runner.message_hub.get_scalar('train/lr').data[0]
    assert len(lrs) == 6  # iterations 0-2 and 5-7 ran
    np.testing.assert_allclose(lrs[3], lrs[0])  # stage 1 restarts the poly
    assert lrs[2] < lrs[1] < lrs[0]
    stage_1 = tmp_path / 'pseudo_labels' / 'auxsegnet_plus' / 'stage_1'
    assert json.load(open(stage_1 / 'meta.json'))['iteration'] == 5
    assert torch.load(tmp_path / 'iter_5.pth', weights_only=False)['meta'][
        'iter'] == 5


def test_early_stop_needs_its_metric(toy_root, tmp_path):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path)
    cfg.train_cfg.val_interval = 1
    cfg.custom_hooks[0].update(early_stop_patience=1, early_stop_metric='acc')
    with pytest.raises(KeyError, match="'acc' is not among"):
        Runner.from_cfg(cfg).train()
