"""CIAN's SynthVOC recipe end to end on the toy set through the stock tools:
seeds from a CAM classifier with CIAN's rule (tools/make_pseudo_labels.py),
round 1 on the seeds with common-class pairs, labels(2) made by the round-1
model at the stage boundary, round 2, then the test loop."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.utils.io import read_label_map

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import make_pseudo_labels  # noqa: E402

CIAN = osp.join(ROOT, 'configs', 'cian',
                'cian_efficientnet-lite0_2x400it_synthvoc-224.py')
SEEDS = osp.join(ROOT, 'configs', 'cian',
                 'cian-seeds_efficientnet-lite0_800it_synthvoc-224.py')
TOY = osp.join(ROOT, 'configs/_base_/datasets/toy.py')


def _on_toy(cfg: Config, data_root: str) -> Config:
    """Point a SynthVOC config at the toy set (5 classes, no workers)."""
    toy = Config.fromfile(TOY)
    cfg.model.backbone.init_cfg = None
    cfg.model.decode_head.num_classes = len(toy.metainfo.classes)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.dataset.metainfo = toy.metainfo
        loader.num_workers = 0
        loader.persistent_workers = False
    return cfg


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=8, num_val=2, size=64, seed=1)
    return str(root)


def _seeds(toy_root, tmp_path) -> str:
    """CIAN seeds of a random-weight CAM classifier."""
    from mmseg.registry import MODELS
    cfg = _on_toy(Config.fromfile(SEEDS), toy_root)
    cfg_file = str(tmp_path / 'seeds.py')
    cfg.dump(cfg_file)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # random backbone features are ~1e-9: large positive class weights give
    # CAMs with structure
    model.decode_head.conv_seg.weight.data.abs_().mul_(1e12)
    ckpt = str(tmp_path / 'cls.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'seeds')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    return out


def test_two_rounds_with_relabelling(toy_root, tmp_path):
    seeds = _seeds(toy_root, tmp_path)
    ids = open(osp.join(toy_root, 'ImageSets/Segmentation/train.txt')).read(
    ).split()
    labels = json.load(open(osp.join(toy_root, 'cls_labels.json')))
    for img_id in ids:  # CIAN's rule: only the image's classes or ignore
        seed = read_label_map(osp.join(seeds, f'{img_id}.png'))
        assert set(np.unique(seed)) <= {0, 255, *labels[img_id]}

    cfg = _on_toy(Config.fromfile(CIAN), toy_root)
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
