import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from mmseg_wsss.utils.io import read_label_map, save_label_png

TOOLS = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters')


@pytest.fixture
def voc_aug(monkeypatch):
    monkeypatch.syspath_prepend(TOOLS)
    sys.modules.pop('voc_aug', None)
    import voc_aug
    return voc_aug


def square_mask(cls, shape=(20, 24), dtype=np.uint8):
    mask = np.zeros(shape, dtype)
    mask[4:12, 5:15] = cls
    return mask


def write_sbd_mat(path, seg):
    fg = np.unique(seg)
    savemat(
        path, {
            'GTcls': {
                'Segmentation': seg,
                'Boundaries': np.zeros((21, ), dtype=object),
                'CategoriesPresent': fg[(fg > 0) & (fg < 255)]
            }
        })


def write_ids(path, ids):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(f'{i}\n' for i in ids)


@pytest.fixture
def fixture(tmp_path):
    """VOC: a (train), b (val). SBD: a, c (train), b (val)."""
    devkit, sbd = tmp_path / 'VOCdevkit', tmp_path / 'benchmark_RELEASE'
    voc_a = square_mask(15)
    voc_a[3, 4:16] = 255  # VOC boundary band
    voc = {'a': voc_a, 'b': square_mask(7)}
    for img_id, label in voc.items():
        save_label_png(
            label,
            str(devkit / 'VOC2012' / 'SegmentationClass' / f'{img_id}.png'))
    split_dir = devkit / 'VOC2012' / 'ImageSets' / 'Segmentation'
    write_ids(split_dir / 'train.txt', ['a'])
    write_ids(split_dir / 'val.txt', ['b'])

    sbd_c = square_mask(1, dtype=np.float64)  # MATLAB double
    sbd_c[14:18, 2:6] = 12
    (sbd / 'dataset' / 'cls').mkdir(parents=True)
    for img_id, seg in (('a', square_mask(3)), ('b', square_mask(9)), ('c',
                                                                       sbd_c)):
        write_sbd_mat(str(sbd / 'dataset' / 'cls' / f'{img_id}.mat'), seg)
    write_ids(sbd / 'dataset' / 'train.txt', ['a', 'c'])
    write_ids(sbd / 'dataset' / 'val.txt', ['b'])
    return dict(devkit=devkit, sbd=sbd, voc=voc, sbd_c=sbd_c)


def test_convert(voc_aug, fixture):
    devkit = fixture['devkit']
    result = voc_aug.main([str(devkit), str(fixture['sbd'])])
    voc_root = devkit / 'VOC2012'
    aug_dir = voc_root / 'SegmentationClassAug'
    assert sorted(os.listdir(aug_dir)) == ['a.png', 'b.png', 'c.png']
    with Image.open(aug_dir / 'c.png') as img:
        assert img.mode == 'P'
    # SBD-only id: the .mat mask; VOC ids: VOC's annotation wins
    c = read_label_map(str(aug_dir / 'c.png'))
    assert c.dtype == np.uint8
    assert np.array_equal(c, fixture['sbd_c'].astype(np.uint8))
    for img_id, label in fixture['voc'].items():
        assert np.array_equal(
            read_label_map(str(aug_dir / f'{img_id}.png')), label)

    split_dir = voc_root / 'ImageSets' / 'Segmentation'
    assert (split_dir / 'train_aug.txt').read_text().split() == ['a', 'c']
    assert (split_dir / 'aug.txt').read_text().split() == ['c']
    assert result['train_aug'] == ['a', 'c'] and result['aug'] == ['c']

    with open(voc_root / 'cls_labels.json') as f:
        labels = json.load(f)
    assert labels == {'a': [15], 'b': [7], 'c': [1, 12]}


def test_bad_mask_value(voc_aug, fixture):
    bad = fixture['sbd'] / 'dataset' / 'cls' / 'c.mat'
    write_sbd_mat(str(bad), square_mask(30))
    with pytest.raises(ValueError, match=r'c\.mat.*\[30\]'):
        voc_aug.main([str(fixture['devkit']), str(fixture['sbd'])])


def test_missing_mask(voc_aug, fixture):
    write_ids(fixture['sbd'] / 'dataset' / 'val.txt', ['b', 'd'])
    with pytest.raises(FileNotFoundError, match=r"\['d'\]"):
        voc_aug.main([str(fixture['devkit']), str(fixture['sbd'])])
