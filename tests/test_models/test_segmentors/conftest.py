"""Tiny segmentor configs shared by the segmentor tests."""
import pytest
from mmengine import ConfigDict
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401  (registers the segmentors and heads)

NUM_CLASSES = 21
# a stock ResNet-18 a few channels wide, output stride 8: fast on a CPU
TINY_BACKBONE = dict(
    type='ResNetV1c',
    depth=18,
    stem_channels=8,
    base_channels=4,
    out_indices=(3, ),
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4))
TINY_CHANNELS = 32
DATA_PREPROCESSOR = dict(
    type='WSSSDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    seg_pad_val=255)
# the classification head of both tiny models
CAM_HEAD = dict(
    type='CAMHead',
    in_channels=TINY_CHANNELS,
    in_index=0,
    num_classes=NUM_CLASSES,
    loss_decode=dict(
        type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_cls'))


def _cam_classifier_cfg(**test_cfg) -> ConfigDict:
    """A tiny :class:`CAMClassifier` over 21 classes."""
    return ConfigDict(
        type='CAMClassifier',
        data_preprocessor=DATA_PREPROCESSOR,
        backbone=TINY_BACKBONE,
        decode_head=CAM_HEAD,
        train_cfg=dict(),
        test_cfg=test_cfg)


def _auxsegnet_cfg(**head) -> ConfigDict:
    """A tiny :class:`AuxSegNet` (DualAffinityHead + CAMHead), 21 classes."""
    decode_head = dict(
        type='DualAffinityHead',
        in_channels=TINY_CHANNELS,
        in_index=0,
        channels=8,
        num_classes=NUM_CLASSES,
        dilations=(1, 2),
        post_dilation=3,
        dropout_ratio=0.,
        loss_decode=dict(
            type='CrossEntropyLoss', avg_non_ignore=True,
            loss_name='loss_seg'))
    decode_head.update(head)
    return ConfigDict(
        type='AuxSegNet',
        data_preprocessor=DATA_PREPROCESSOR,
        backbone=TINY_BACKBONE,
        decode_head=decode_head,
        auxiliary_head=CAM_HEAD,
        train_cfg=dict(stage='full'),
        test_cfg=dict(mode='whole'))


@pytest.fixture(autouse=True)
def _mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture
def cam_classifier_cfg():
    """Builder of a tiny CAMClassifier config (``test_cfg`` as kwargs)."""
    return _cam_classifier_cfg


@pytest.fixture
def auxsegnet_cfg():
    """Builder of a tiny AuxSegNet config (decode head kwargs)."""
    return _auxsegnet_cfg
