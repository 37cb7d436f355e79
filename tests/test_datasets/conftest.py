"""A tiny VOC-layout set written into ``tmp_path`` for the dataset tests."""
import json
import os
import os.path as osp
from typing import Dict, List

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

import mmseg_wsss  # noqa: F401  (registers the WSSS datasets/transforms)
from mmseg_wsss.utils.io import save_label_png

SIZE = 16
# id -> foreground classes drawn into its mask (and listed in the labels)
TINY_LABELS: Dict[str, List[int]] = {
    'img_0': [1],
    'img_1': [2, 15],
    'img_2': [3],
    'img_3': [20, 7],
}
TRAIN_IDS = list(TINY_LABELS)
VAL_IDS = TRAIN_IDS[-2:]


def tiny_mask(classes: List[int], size: int = SIZE) -> np.ndarray:
    """Background mask with one square per class and a 255 border."""
    mask = np.zeros((size, size), np.uint8)
    for k, c in enumerate(classes):
        mask[2 + 4 * k:5 + 4 * k, 2:10] = c
    mask[0, :] = 255
    return mask


def write_tiny_voc(root: str, labels: Dict[str, List[int]] = TINY_LABELS,
                   size: int = SIZE) -> str:
    """Write JPEGImages, SegmentationClass, SaliencyMaps, split files
    (train: every id, val: the last two) and ``cls_labels.json`` (labels in
    a scrambled order) under ``root``."""
    rng = np.random.default_rng(0)
    dirs = ['JPEGImages', 'SegmentationClass', 'SaliencyMaps',
            osp.join('ImageSets', 'Segmentation')]
    for d in dirs:
        os.makedirs(osp.join(root, d), exist_ok=True)
    for img_id, classes in labels.items():
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(img).save(
            osp.join(root, 'JPEGImages', img_id + '.jpg'))
        save_label_png(tiny_mask(classes, size),
                       osp.join(root, 'SegmentationClass', img_id + '.png'))
        sal = rng.integers(0, 256, (size, size), dtype=np.uint8)
        Image.fromarray(sal).save(
            osp.join(root, 'SaliencyMaps', img_id + '.png'))
    ids = list(labels)
    for split, ids in (('train', ids), ('val', ids[-2:])):
        with open(osp.join(root, 'ImageSets', 'Segmentation', split + '.txt'),
                  'w') as f:
            f.writelines(i + '\n' for i in ids)
    with open(osp.join(root, 'cls_labels.json'), 'w') as f:
        json.dump({k: v[::-1] for k, v in labels.items()}, f)
    return root


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build transforms from mmseg's registry (as a Runner does)."""
    init_default_scope('mmseg')


@pytest.fixture
def voc_root(tmp_path) -> str:
    """Root of a freshly written tiny VOC-layout set."""
    return write_tiny_voc(str(tmp_path / 'voc'))
