import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS

from mmseg_wsss.utils.io import save_label_png
from .conftest import write_tiny_voc

CONFIG_DIR = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets')
SYNTHVOC = '/work/shared/data/synthvoc'
PIPELINES = ('train_pipeline', 'train_pseudo_pipeline', 'train_full_pipeline',
             'test_pipeline')


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


@pytest.mark.parametrize('name', [
    'synthvoc.py', 'toy.py', 'voc12aug_wsss.py', 'coco14_wsss.py'
])
def test_config_parses(name):
    cfg = load(name)
    for key in PIPELINES:
        assert cfg[key][-1]['type'] == 'PackWSSSInputs'
    assert not any(t['type'] == 'LoadAnnotations'
                   for t in cfg.train_pipeline + cfg.train_pseudo_pipeline)
    assert cfg.val_dataloader.dataset.test_mode is True
    assert cfg.train_dataloader.dataset.get('test_mode', False) is False
    assert cfg.val_evaluator.type == 'IoUMetric'


@pytest.mark.skipif(not osp.isdir(SYNTHVOC), reason='SynthVOC not present')
def test_synthvoc_datasets_build_and_load():
    cfg = load('synthvoc.py')
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.data_root = SYNTHVOC
    train = DATASETS.build(train_cfg)
    assert len(train) == 3000
    sample = train[0]
    assert max(sample['inputs'].shape[1:]) <= 224
    assert sample['data_samples'].gt_img_labels.shape == (20, )
    assert 'gt_sem_seg' not in sample['data_samples']

    val_cfg = cfg.val_dataloader.dataset
    val_cfg.data_root = SYNTHVOC
    val = DATASETS.build(val_cfg)
    assert len(val) == 500
    sample = val[0]
    assert sample['data_samples'].gt_sem_seg.shape == (256, 256)
    assert sample['data_samples'].gt_img_labels.sum() >= 1


def test_toy_pseudo_and_full_pipelines(tmp_path):
    cfg = load('toy.py')
    labels = {'train_00000': [1, 4], 'train_00001': [2], 'train_00002': [3]}
    root = write_tiny_voc(str(tmp_path / 'toy'), labels, size=128)
    pseudo_dir = str(tmp_path / 'pl')
    for img_id in labels:
        save_label_png(np.full((128, 128), 2, np.uint8),
                       osp.join(pseudo_dir, img_id + '.png'))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = root

    pseudo = DATASETS.build(
        dict(ds_cfg, pseudo_label_dir=pseudo_dir,
             pipeline=cfg.train_pseudo_pipeline))
    assert pseudo.num_classes == 5
    gt = pseudo[0]['data_samples'].gt_sem_seg.data
    assert gt.shape[0] == 1 and max(gt.shape[1:]) <= 112
    assert set(gt.unique().tolist()) == {2}

    full = DATASETS.build(
        dict(ds_cfg, allow_gt_masks=True, pipeline=cfg.train_full_pipeline))
    gt = full[0]['data_samples'].gt_sem_seg.data
    assert set(gt.unique().tolist()) <= {0, 1, 4, 255}
    with pytest.raises(ValueError, match='ground-truth mask'):
        DATASETS.build(dict(ds_cfg, pipeline=cfg.train_full_pipeline))[0]
