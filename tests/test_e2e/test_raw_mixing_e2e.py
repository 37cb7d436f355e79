"""The RAW mixing config (configs/cosa/mixing, cosa.md 5 (a)): stock
DeepLabV3 parts with PW heads, and a shrunk copy trained 2 iterations by
mmengine's Runner on toy pseudo labels + CAMs written in the writer's
layout (<dir>/<id>.png, <dir>/cams/<id>.npy)."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.pseudo_labels.rules import cam_to_label
from mmseg_wsss.utils.io import read_id_list, read_label_map, save_label_png

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'cosa', 'mixing',
                  'deeplabv3_r50-d8_raw-ce_synthvoc-224.py')
TOY = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/toy.py'))
BG_THR = 0.45


@pytest.fixture(scope='module')
def toy_labels(tmp_path_factory):
    """A toy set and CAM pseudo labels made from noisy GT-shaped CAMs."""
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_dataset(root, num_train=4, num_val=1, size=48, seed=0)
    labels = osp.join(root, 'labels')
    os.makedirs(osp.join(labels, 'cams'))
    rng = np.random.default_rng(0)
    for img_id in read_id_list(
            osp.join(root, 'ImageSets/Segmentation/train.txt')):
        mask = read_label_map(
            osp.join(root, 'SegmentationClass', img_id + '.png'))
        cam = rng.random((4, *mask.shape)) * 0.5
        for c in range(1, 5):
            cam[c - 1][mask == c] += 0.5
        save_label_png(cam_to_label(cam, BG_THR),
                       osp.join(labels, img_id + '.png'))
        np.save(osp.join(labels, 'cams', img_id + '.npy'),
                cam.astype(np.float16))
    return root, labels


def test_config_keeps_stock_parts():
    cfg = Config.fromfile(CONFIG)
    model = cfg.model
    assert model.type == 'EncoderDecoder'
    assert (model.backbone.type, model.backbone.depth) == ('ResNetV1c', 50)
    assert model.data_preprocessor.type == 'WSSSDataPreProcessor'
    assert model.decode_head.type == 'PWASPPHead'
    assert model.decode_head.dilations == (1, 12, 24, 36)
    assert model.decode_head.loss_decode == dict(type='RAWCrossEntropyLoss')
    assert model.auxiliary_head.type == 'PWFCNHead'
    assert model.auxiliary_head.loss_decode.loss_weight == 0.4
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert types.index('LoadPseudoLabel') < types.index(
        'LoadCAMConfidence') < types.index('ComputeRAWReliability') < \
        types.index('RandomResize')
    assert 'LoadAnnotations' not in types
    reliability, = [t for t in cfg.train_dataloader.dataset.pipeline
                    if t['type'] == 'ComputeRAWReliability']
    # the CAM baseline's bg_thr, which made the labels the config reads
    assert reliability.threshold == 0.45


def _tiny(data_root, labels, work_dir):
    """The config on the toy set: ResNetV1c-18 a few channels wide, 32 x 32
    crops, 2 iterations, no validation."""
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    model = cfg.model
    model.pretrained = None
    model.data_preprocessor.size = (32, 32)
    model.backbone.update(depth=18, stem_channels=8, base_channels=4)
    model.decode_head.update(in_channels=32, channels=8, num_classes=5)
    model.auxiliary_head.update(in_channels=16, channels=8, num_classes=5)
    loader = cfg.train_dataloader
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader.dataset.update(
        data_root=data_root, metainfo=TOY.metainfo, pseudo_label_dir=labels)
    for transform in loader.dataset.pipeline:
        if transform['type'] == 'RandomResize':
            transform['scale'] = (48, 48)
        if transform['type'] == 'RandomCrop':
            transform['crop_size'] = (32, 32)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler[0].end = 2
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 2
    return cfg


def test_mixing_config_trains_on_cam_labels(toy_labels, tmp_path):
    data_root, labels = toy_labels
    torch.manual_seed(0)
    runner = Runner.from_cfg(_tiny(data_root, labels, tmp_path))
    sample = runner.train_dataloader.dataset[0]['data_samples']
    weight = sample.gt_pixel_weight.data
    assert weight.shape == sample.gt_sem_seg.data.shape == (1, 32, 32)
    assert (weight > 0).all() and (weight <= 1 / -np.log(0.8) + 1e-5).all()
    runner.train()
    assert runner.iter == 2
    for name in ('decode.loss_c2s', 'aux.loss_c2s'):
        value = runner.message_hub.get_scalar('train/' + name).current()
        assert np.isfinite(value) and value > 0
    assert (tmp_path / 'iter_2.pth').exists()
