"""CIAN's SynthVOC recipe end to end on the toy set through the stock tools:
seeds from a CAM classifier with CIAN's rule (tools/make_pseudo_labels.py),
round 1 on the seeds with common-class pairs, labels(2) made by the round-1
model at the stage boundary, round 2, then the test loop."""
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.utils.io import read_label_map

# pytest puts this folder (no __init__.py) on sys.path
from cian_toy import CIAN, make_seeds, on_toy


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=8, num_val=2, size=64, seed=1)
    return str(root)


def test_two_rounds_with_relabelling(toy_root, tmp_path):
    seeds = make_seeds(toy_root, tmp_path)
    ids = open(osp.join(toy_root, 'ImageSets/Segmentation/train.txt')).read(
    ).split()
    labels = json.load(open(osp.join(toy_root, 'cls_labels.json')))
    for img_id in ids:  # CIAN's rule: only the image's classes or ignore
        seed = read_label_map(osp.join(seeds, f'{img_id}.png'))
        assert set(np.unique(seed)) <= {0, 255, *labels[img_id]}

    cfg = on_toy(Config.fromfile(CIAN), toy_root)
    cfg.work_dir = str(tmp_path / 'run')
    cfg.train_dataloader.dataset.pseudo_label_dir = seeds
    cfg.train_dataloader.batch_size = 4  # two common-class pairs
    cfg.train_cfg.stage_iters = cfg.param_scheduler.stage_iters = 2
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.train_cfg.val_interval = 2
    # labels(2) with one CRF iteration: the test checks the plumbing
    cfg.custom_hooks[0].generator.crf = dict(num_iters=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    out = tmp_path / 'run' / 'pseudo_labels' / 'cian' / 'stage_1'
    meta = json.load(open(out / 'meta.json'))
    assert meta['complete']
    generator = meta['identity']['generator']
    assert generator['type'] == 'SegmentationLabelGenerator'
    for img_id in ids:  # labels(2) are dense
        assert 255 not in read_label_map(str(out / f'{img_id}.png'))
    assert (tmp_path / 'run' / 'iter_4.pth').exists()
    assert not (tmp_path / 'run' / 'pseudo_labels' / 'cian' /
                'stage_0').exists()  # round 1 trained on the seeds
    metrics = runner.test()
    assert 0 <= metrics['mIoU'] <= 100
