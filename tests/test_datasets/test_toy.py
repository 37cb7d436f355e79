import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from mmseg_wsss.datasets.toy import (TOY_CLASSES, TOY_PALETTE, load_toy_meta,
                                     make_toy_dataset)
from mmseg_wsss.utils.io import VOC_PALETTE, read_label_map

TOOLS = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters')


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('toy'))
    return make_toy_dataset(out, num_train=8, num_val=4, size=64, seed=3)


def read_ids(root, split):
    with open(osp.join(root, 'ImageSets', 'Segmentation',
                       f'{split}.txt')) as f:
        return f.read().split()


def test_classes_and_palette():
    assert TOY_CLASSES == ('background', 'disc', 'square', 'triangle', 'ring')
    assert np.array_equal(TOY_PALETTE, VOC_PALETTE[:5])


def test_files_and_counts(toy):
    root = toy['data_root']
    train, val = read_ids(root, 'train'), read_ids(root, 'val')
    assert train == [f'train_{i:05d}' for i in range(8)]
    assert val == [f'val_{i:05d}' for i in range(4)]
    with open(toy['cls_labels']) as f:
        labels = json.load(f)
    assert sorted(labels) == sorted(train + val)
    for img_id in train + val:
        with Image.open(osp.join(root, 'JPEGImages', f'{img_id}.jpg')) as img:
            assert img.format == 'JPEG' and img.mode == 'RGB'
            assert img.size == (64, 64)
        with Image.open(osp.join(root, 'SegmentationClass',
                                 f'{img_id}.png')) as seg:
            assert seg.mode == 'P'
        with Image.open(osp.join(root, 'SaliencyMaps',
                                 f'{img_id}.png')) as sal:
            assert sal.mode == 'L' and sal.size == (64, 64)
    assert load_toy_meta(root) == dict(
        num_train=8, num_val=4, size=64, seed=3, max_objects=3)


def test_labels_match_masks(toy):
    root = toy['data_root']
    with open(toy['cls_labels']) as f:
        labels = json.load(f)
    for img_id, fg in labels.items():
        seg = read_label_map(
            osp.join(root, 'SegmentationClass', f'{img_id}.png'))
        values = set(np.unique(seg).tolist())
        assert values <= {0, 1, 2, 3, 4, 255}
        assert fg == sorted(values - {0, 255})
        assert 1 <= len(fg) <= 3
        for cls in fg:  # every object keeps enough visible pixels
            assert (seg == cls).sum() >= 30


def test_images_are_not_flat(toy):
    img = np.array(
        Image.open(
            osp.join(toy['data_root'], 'JPEGImages', 'train_00000.jpg')))
    seg = read_label_map(
        osp.join(toy['data_root'], 'SegmentationClass', 'train_00000.png'))
    assert img[seg == 0].std(axis=0).min() > 5


def test_saliency_correlates_with_masks(toy):
    root = toy['data_root']
    for img_id in read_ids(root, 'train') + read_ids(root, 'val'):
        seg = read_label_map(
            osp.join(root, 'SegmentationClass', f'{img_id}.png'))
        sal = np.array(
            Image.open(osp.join(root, 'SaliencyMaps', f'{img_id}.png')),
            dtype=np.float64) / 255
        inside, outside = sal[(seg > 0) & (seg < 255)], sal[seg == 0]
        assert inside.mean() > outside.mean() + 0.3
        assert len(np.unique(sal)) > 10  # blurred, not a binary mask


def test_deterministic(tmp_path):
    kwargs = dict(num_train=3, num_val=2, size=48, max_objects=4)
    a = make_toy_dataset(str(tmp_path / 'a'), seed=7, **kwargs)
    b = make_toy_dataset(str(tmp_path / 'b'), seed=7, **kwargs)
    c = make_toy_dataset(str(tmp_path / 'c'), seed=8, **kwargs)
    assert a['img_labels'] == b['img_labels']
    differs = False
    for img_id in a['img_labels']:
        for sub, ext in (('JPEGImages', 'jpg'), ('SegmentationClass', 'png'),
                         ('SaliencyMaps', 'png')):
            name = osp.join(sub, f'{img_id}.{ext}')
            arr_a, arr_b, arr_c = (
                np.array(Image.open(osp.join(d, name)))
                for d in (a['data_root'], b['data_root'], c['data_root']))
            assert np.array_equal(arr_a, arr_b), name
            differs |= not np.array_equal(arr_a, arr_c)
    assert differs


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='size'):
        make_toy_dataset(str(tmp_path), size=16)
    with pytest.raises(ValueError, match='max_objects'):
        make_toy_dataset(str(tmp_path), max_objects=0)


def test_cli_skips_complete_set(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(TOOLS)
    sys.modules.pop('make_toy', None)
    import make_toy
    out = str(tmp_path / 'toy')
    argv = ['--out', out, '--num-train', '2', '--num-val', '1', '--size', '48']
    assert make_toy.main(argv) is True
    assert make_toy.main(argv) is False
    assert make_toy.main(argv + ['--force']) is True
    assert make_toy.main(argv[:-1] + ['64']) is True  # other size
    assert load_toy_meta(out)['size'] == 64
    seg = osp.join(out, 'SegmentationClass', 'val_00000.png')
    os.remove(seg)  # incomplete set: written again
    assert load_toy_meta(out) is None
    assert make_toy.main(argv[:-1] + ['64']) is True
    assert osp.isfile(seg)


def test_relative_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_toy_dataset('data/toy', num_train=2, num_val=1, size=32)
    assert (tmp_path / 'data/toy/ImageSets/Segmentation/train.txt').exists()
    assert not (tmp_path / 'data/toy/data').exists()
