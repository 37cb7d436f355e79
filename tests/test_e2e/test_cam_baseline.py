"""The CAM baseline end to end through the stock Runner on a tiny toy set:
classifier -> pseudo labels -> segmenter -> scores, and a resumed run."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.utils.io import read_label_map

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import make_pseudo_labels  # noqa: E402

CLS_CONFIG = osp.join(ROOT, 'configs/cam_baseline/cam_efficientnet-lite0_toy.py')
SEG_CONFIG = osp.join(
    ROOT, 'configs/cam_baseline/largefov_efficientnet-lite0_toy_pseudo.py')


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=16, num_val=4, size=64, seed=1)
    return str(root)


def _tiny(cfg_path, data_root, work_dir, iters, **extra):
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.init_cfg = None  # no download, no weight file
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
        cfg[f'{split}_dataloader'].num_workers = 0
        cfg[f'{split}_dataloader'].persistent_workers = False
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler[0].end = iters
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.merge_from_dict(extra)
    return cfg


def test_cam_baseline_end_to_end(toy_root, tmp_path):
    torch.manual_seed(0)
    cls_cfg = _tiny(CLS_CONFIG, toy_root, tmp_path / 'cls', 4)
    runner = Runner.from_cfg(cls_cfg)
    runner.train()
    ckpt = tmp_path / 'cls' / 'iter_4.pth'
    assert ckpt.exists()
    metrics = runner.test()
    assert 0 <= metrics['mIoU'] <= 100
    assert 0 < metrics['cam/best_thr'] < 1  # CAMMetric swept thresholds

    labels = tmp_path / 'labels'
    cfg_file = tmp_path / 'cls.py'
    cls_cfg.dump(str(cfg_file))
    result = make_pseudo_labels.main([
        str(cfg_file), str(ckpt), '--out-dir', str(labels), '--scales', '1.0',
        '0.5', '--flip', '--save-cams'
    ])
    ids = open(osp.join(toy_root,
                        'ImageSets/Segmentation/train.txt')).read().split()
    assert sorted(p.stem for p in labels.glob('*.png')) == sorted(ids)
    meta = json.load(open(labels / 'meta.json'))
    generator = meta['identity']['generator']
    assert generator['scales'] == [1.0, 0.5] and generator['flip']
    assert meta['complete'] and meta['info']['num_images'] == len(ids)
    assert 'mIoU' in meta['scores'] and result['scores'] is not None
    img_labels = json.load(open(osp.join(toy_root, 'cls_labels.json')))
    for img_id in ids:
        label = read_label_map(str(labels / f'{img_id}.png'))
        # only background and the image's own classes appear
        assert set(np.unique(label)) <= {0, *img_labels[img_id]}
    assert len(list((labels / 'cams').glob('*.npy'))) == len(ids)

    seg_cfg = _tiny(SEG_CONFIG, toy_root, tmp_path / 'seg', 4)
    seg_cfg.train_dataloader.dataset.pseudo_label_dir = str(labels)
    seg_runner = Runner.from_cfg(seg_cfg)
    seg_runner.train()
    seg_metrics = seg_runner.test()
    assert 0 <= seg_metrics['mIoU'] <= 100


def test_pseudo_labels_resume_only_missing(toy_root, tmp_path):
    cls_cfg = _tiny(CLS_CONFIG, toy_root, tmp_path / 'cls', 2)
    Runner.from_cfg(cls_cfg).train()
    cfg_file = tmp_path / 'cls.py'
    cls_cfg.dump(str(cfg_file))
    labels = tmp_path / 'labels'
    argv = [str(cfg_file), str(tmp_path / 'cls' / 'iter_2.pth'), '--out-dir',
            str(labels)]
    make_pseudo_labels.main(argv)
    files = sorted(labels.glob('*.png'))
    kept, removed = files[0], files[1]
    kept.write_bytes(kept.read_bytes())  # same content, new mtime
    stamp = kept.stat().st_mtime_ns
    removed.unlink()
    make_pseudo_labels.main(argv)
    assert removed.exists()  # the missing label was regenerated
    assert kept.stat().st_mtime_ns == stamp  # the existing one was kept
    assert not list(labels.glob('.tmp_*'))  # no half-written file left


def test_resume_continues_from_checkpoint(toy_root, tmp_path):
    cfg = _tiny(CLS_CONFIG, toy_root, tmp_path / 'run', 2)
    Runner.from_cfg(cfg).train()
    cfg = _tiny(CLS_CONFIG, toy_root, tmp_path / 'run', 4, resume=True)
    cfg.param_scheduler[0].end = 4
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    assert (tmp_path / 'run' / 'iter_4.pth').exists()
    log = open(sorted((tmp_path / 'run').glob('*/*.log'))[-1]).read()
    assert 'resumed epoch: 0, iter: 2' in log
