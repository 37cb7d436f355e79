import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg_wsss.datasets import WSSSCOCODataset
from mmseg_wsss.utils.io import save_label_png

LABELS = {
    'train': {'COCO_train2014_000000000009': [1, 80],
              'COCO_train2014_000000000025': [45]},
    'val': {'COCO_val2014_000000000042': [18]},
}


@pytest.fixture
def coco_root(tmp_path):
    """Tiny COCO 2014 set in the converter's layout."""
    root = str(tmp_path / 'coco')
    table = {}
    for split, labels in LABELS.items():
        for sub in ('images', 'mask'):
            os.makedirs(osp.join(root, sub, f'{split}2014'))
        for img_id, classes in labels.items():
            Image.fromarray(np.zeros((12, 20, 3), np.uint8)).save(
                osp.join(root, 'images', f'{split}2014', img_id + '.jpg'))
            mask = np.zeros((12, 20), np.uint8)
            for k, c in enumerate(classes):
                mask[k, :] = c
            save_label_png(mask,
                           osp.join(root, 'mask', f'{split}2014',
                                    img_id + '.png'))
            table[img_id] = classes
        with open(osp.join(root, f'{split}.txt'), 'w') as f:
            f.writelines(i + '\n' for i in labels)
    with open(osp.join(root, 'cls_labels.json'), 'w') as f:
        json.dump(table, f)
    return root


def test_metainfo():
    meta = WSSSCOCODataset.METAINFO
    assert len(meta['classes']) == 81 and len(meta['palette']) == 81
    assert meta['classes'][:2] == ('background', 'person')
    assert meta['classes'][80] == 'toothbrush'
    assert len({tuple(c) for c in meta['palette']}) == 81


def test_defaults_read_train(coco_root):
    ds = WSSSCOCODataset(data_root=coco_root)
    assert len(ds) == 2 and ds.num_classes == 81
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join(coco_root, 'images', 'train2014',
                                        'COCO_train2014_000000000009.jpg')
    assert info['seg_map_path'] == osp.join(coco_root, 'mask', 'train2014',
                                            'COCO_train2014_000000000009.png')
    assert info['img_labels'] == [1, 80] and info['num_classes'] == 81


def test_val_and_derived_labels(coco_root, tmp_path):
    ds = WSSSCOCODataset(
        data_root=coco_root,
        ann_file='val.txt',
        data_prefix=dict(img_path='images/val2014',
                         seg_map_path='mask/val2014'),
        img_labels_file=None,
        img_labels_cache=str(tmp_path / 'cache'),
        test_mode=True)
    assert ds.get_data_info(0)['img_labels'] == [18]
    assert ds.get_data_info(0)['allow_gt_masks'] is True


def test_class_81_out_of_range(coco_root):
    with open(osp.join(coco_root, 'cls_labels.json')) as f:
        table = json.load(f)
    table['COCO_train2014_000000000025'] = [81]
    with open(osp.join(coco_root, 'cls_labels.json'), 'w') as f:
        json.dump(table, f)
    with pytest.raises(ValueError, match=r"000025'.*\[81\].*1\.\.80"):
        WSSSCOCODataset(data_root=coco_root)
