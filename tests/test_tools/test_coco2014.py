import json
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from mmseg_wsss.utils.io import read_label_map

TOOLS = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters')
NAME = 'COCO_{}2014_{:012d}'


@pytest.fixture(params=['fallback', 'pycocotools'])
def coco2014(request, monkeypatch):
    monkeypatch.syspath_prepend(TOOLS)
    sys.modules.pop('coco2014', None)
    import coco2014
    if request.param == 'fallback':
        monkeypatch.setattr(coco2014, 'mask_utils', None)
    elif coco2014.mask_utils is None:
        pytest.skip('pycocotools not installed')
    return coco2014


def square(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def encode_rle(mask):
    """Uncompressed COCO RLE: column-major runs, starting with zeros."""
    flat = mask.flatten(order='F').astype(np.int64)
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]]))
    counts = ([0] if flat[0] else []) + runs.tolist()
    return dict(counts=counts, size=list(mask.shape))


def write_split(root, split, images, anns):
    categories = [
        dict(id=90, name='toothbrush'),
        dict(id=1, name='person'),
        dict(id=18, name='dog')
    ]  # unsorted on purpose: classes follow the sorted ids 1, 18, 90
    img_dir = root / f'{split}2014'
    img_dir.mkdir(parents=True, exist_ok=True)
    for img in images:
        Image.new('RGB', (img['width'], img['height']),
                  (10, 20, 30)).save(img_dir / img['file_name'])
    (root / 'annotations').mkdir(exist_ok=True)
    with open(root / 'annotations' / f'instances_{split}2014.json', 'w') as f:
        json.dump(
            dict(images=images, annotations=anns, categories=categories), f)


@pytest.fixture
def coco_root(tmp_path):
    """train: image 1 (dog, toothbrush on it, person crowd), image 2 (two-part
    person), image 3 (no annotation); val: image 5 (toothbrush)."""
    root = tmp_path / 'coco'
    images = [
        dict(
            id=i,
            file_name=NAME.format('train', i) + '.jpg',
            height=h,
            width=w) for i, h, w in ((1, 20, 30), (2, 16, 16), (3, 8, 8))
    ]
    crowd = np.zeros((20, 30), np.uint8)
    crowd[:, 18:28] = 1
    anns = [
        dict(
            id=10,
            image_id=1,
            category_id=90,
            iscrowd=0,
            area=16,
            segmentation=[square(5, 5, 9, 9)]),
        dict(
            id=11,
            image_id=1,
            category_id=18,
            iscrowd=0,
            area=216,
            segmentation=[square(2, 2, 20, 14)]),
        dict(
            id=12,
            image_id=1,
            category_id=1,
            iscrowd=1,
            area=200,
            segmentation=encode_rle(crowd)),
        dict(
            id=13,
            image_id=2,
            category_id=1,
            iscrowd=0,
            area=20,
            segmentation=[square(1, 1, 4, 4),
                          square(10, 10, 14, 14)]),
    ]
    write_split(root, 'train', images, anns)
    val_img = dict(
        id=5, file_name=NAME.format('val', 5) + '.jpg', height=10, width=10)
    write_split(root, 'val', [val_img], [
        dict(
            id=20,
            image_id=5,
            category_id=90,
            iscrowd=0,
            area=9,
            segmentation=[square(2, 2, 5, 5)])
    ])
    return root


def test_rle_mask_known_layout(coco2014):
    # [[0, 1, 1], [0, 1, 0]] column-major: 2 zeros, 3 ones, 1 zero
    mask = coco2014.rle_mask(dict(counts=[2, 3, 1], size=[2, 3]), 2, 3)
    assert np.array_equal(mask, [[0, 1, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match='sum to 5'):
        coco2014.rle_mask(dict(counts=[2, 3], size=[2, 3]), 2, 3)
    if coco2014.mask_utils is None:
        with pytest.raises(ImportError, match='pycocotools'):
            coco2014.ann_mask(dict(counts='52', size=[2, 3]), 2, 3)


def test_convert(coco2014, coco_root, tmp_path):
    out = tmp_path / 'out'
    labels = coco2014.main([str(coco_root), str(out)])
    id1, id2, id3 = (NAME.format('train', i) for i in (1, 2, 3))
    id5 = NAME.format('val', 5)

    assert (out / 'train.txt').read_text().split() == [id1, id2]
    assert (out / 'val.txt').read_text().split() == [id5]
    assert not (out / 'mask' / 'train2014' / f'{id3}.png').exists()
    assert not (out / 'images' / 'train2014' / f'{id3}.jpg').exists()
    img = out / 'images' / 'train2014' / f'{id1}.jpg'
    assert img.is_file() and not img.is_symlink()

    mask1 = read_label_map(str(out / 'mask' / 'train2014' / f'{id1}.png'))
    assert mask1.shape == (20, 30)
    assert set(np.unique(mask1).tolist()) == {0, 2, 3, 255}
    assert mask1[7, 7] == 3  # the small toothbrush (id 90 -> 3) on top
    assert mask1[12, 15] == 2  # dog (id 18 -> 2)
    assert mask1[8, 19] == 2  # an instance inside the crowd region stays
    assert (mask1[:, 22:28] == 255).all()  # crowd person region: ignore
    assert (mask1[:, 28:] == 0).all() and mask1[17, 5] == 0

    mask2 = read_label_map(str(out / 'mask' / 'train2014' / f'{id2}.png'))
    assert mask2[2, 2] == 1 and mask2[12, 12] == 1 and mask2[7, 7] == 0

    with open(out / 'cls_labels.json') as f:
        written = json.load(f)
    assert written == labels == {id1: [2, 3], id2: [1], id5: [3]}


def test_link_and_one_split(coco2014, coco_root, tmp_path):
    out = tmp_path / 'out'
    coco2014.main([str(coco_root), str(out), '--splits', 'val', '--link'])
    img = out / 'images' / 'val2014' / f'{NAME.format("val", 5)}.jpg'
    assert img.is_symlink() and img.resolve().is_file()
    assert not (out / 'train.txt').exists()
    coco2014.main([str(coco_root), str(out), '--splits', 'train'])
    with open(out / 'cls_labels.json') as f:
        assert len(json.load(f)) == 3  # labels of both splits kept


def test_unknown_category(coco2014, coco_root, tmp_path):
    path = coco_root / 'annotations' / 'instances_val2014.json'
    coco = json.loads(path.read_text())
    coco['annotations'][0]['category_id'] = 7
    path.write_text(json.dumps(coco))
    with pytest.raises(ValueError, match='category_id 7'):
        coco2014.main([str(coco_root), str(tmp_path / 'out')])
