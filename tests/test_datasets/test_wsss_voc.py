import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.fileio import LocalBackend, register_backend
from PIL import Image

from mmseg_wsss.datasets import WSSSVOCDataset
from mmseg_wsss.utils.io import read_label_map, save_label_png
from .conftest import (SIZE, TINY_LABELS, TRAIN_IDS, tiny_mask,
                       write_tiny_voc)

SYNTHVOC = '/work/shared/data/synthvoc'


def build(root, **kwargs):
    kwargs.setdefault('saliency_dir', 'SaliencyMaps')
    return WSSSVOCDataset(data_root=root, **kwargs)


def write_pseudo_dir(path, shift):
    """Pseudo labels ``(mask + shift) % 21`` (255 kept) for every id."""
    for img_id, classes in TINY_LABELS.items():
        mask = tiny_mask(classes).astype(np.int64)
        label = np.where(mask == 255, 255, (mask + shift) % 21)
        save_label_png(label, osp.join(path, img_id + '.png'))
    return str(path)


def test_data_infos(voc_root):
    ds = build(voc_root)
    assert len(ds) == len(TRAIN_IDS)
    assert ds.num_classes == 21 and len(ds.metainfo['palette']) == 21
    for k, img_id in enumerate(TRAIN_IDS):
        info = ds.get_data_info(k)
        assert info['img_id'] == img_id
        assert info['img_path'] == osp.join(voc_root, 'JPEGImages',
                                            img_id + '.jpg')
        assert info['seg_map_path'] == osp.join(voc_root, 'SegmentationClass',
                                                img_id + '.png')
        assert info['sal_path'] == osp.join(voc_root, 'SaliencyMaps',
                                            img_id + '.png')
        assert info['img_labels'] == sorted(TINY_LABELS[img_id])
        assert info['num_classes'] == 21
        assert info['allow_gt_masks'] is False
        assert 'pseudo_label_path' not in info
        assert info['label_map'] is None and info['seg_fields'] == []
    assert build(voc_root, allow_gt_masks=True).get_data_info(0)[
        'allow_gt_masks'] is True
    val = build(voc_root, ann_file='ImageSets/Segmentation/val.txt',
                test_mode=True)
    assert len(val) == 2 and val.get_data_info(0)['allow_gt_masks'] is True


def test_data_info_keys(voc_root, tmp_path):
    pseudo = write_pseudo_dir(tmp_path / 'pl', 0)
    ds = build(voc_root, pseudo_label_dir=pseudo)
    keys = {
        'img_path', 'img_id', 'seg_map_path', 'img_labels', 'num_classes',
        'sal_path', 'pseudo_label_path', 'allow_gt_masks', 'label_map',
        'reduce_zero_label', 'seg_fields', 'sample_idx'
    }
    assert set(ds.get_data_info(0)) == keys
    ds.set_label_dirs(pseudo, sal_label_dir=pseudo)
    assert set(ds.get_data_info(0)) == keys | {'sal_label_path'}


def test_split_blank_lines_skipped_and_two_ids_refused(voc_root):
    split = osp.join(voc_root, 'ImageSets', 'Segmentation', 'train.txt')
    with open(split, 'w') as f:
        f.write('img_0\n\n  \nimg_2\n')
    ds = build(voc_root)
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == \
        ['img_0', 'img_2']
    with open(split, 'w') as f:
        f.write('img_0\nimg_1 img_2\n')
    with pytest.raises(ValueError, match=r"train\.txt:2.*'img_1 img_2'"):
        build(voc_root)


class RecordingBackend(LocalBackend):
    """Local files, recording every path read."""
    paths = []

    def get(self, filepath):
        self.paths.append(str(filepath))
        return super().get(filepath)

    def get_text(self, filepath, encoding='utf-8'):
        self.paths.append(str(filepath))
        return super().get_text(filepath, encoding)

    def get_local_path(self, filepath):
        self.paths.append(str(filepath))
        return super().get_local_path(filepath)


def test_reads_through_backend_args(voc_root):
    """Split, label file and image headers are read through mmengine fileio
    with the dataset's backend_args."""
    register_backend('wsss_recording', RecordingBackend, force=True)
    RecordingBackend.paths.clear()
    build(voc_root, backend_args=dict(backend='wsss_recording'))
    read = set(RecordingBackend.paths)
    for rel in ('ImageSets/Segmentation/train.txt', 'cls_labels.json',
                'JPEGImages/img_3.jpg', 'SaliencyMaps/img_3.png'):
        assert osp.join(voc_root, rel) in read, rel


def test_no_mask_dir(voc_root):
    ds = build(voc_root, data_prefix=dict(img_path='JPEGImages'))
    assert 'seg_map_path' not in ds.get_data_info(0)


def test_npy_labels_match_json(voc_root):
    table = {}
    for img_id, classes in TINY_LABELS.items():
        vec = np.zeros(20, np.float32)
        vec[np.array(classes) - 1] = 1
        table[img_id] = vec
    np.save(osp.join(voc_root, 'cls_labels.npy'), table)
    from_npy = build(voc_root, img_labels_file='cls_labels.npy')
    from_json = build(voc_root)
    assert [from_npy.get_data_info(i)['img_labels'] for i in range(4)] == \
        [from_json.get_data_info(i)['img_labels'] for i in range(4)]


def write_irn_labels(root, labels, name='cls_labels.npy'):
    """IRN's ``cls_labels.npy``: int keys (2007000032 for 2007_000032)."""
    table = {}
    for img_id, classes in labels.items():
        vec = np.zeros(20, np.float32)
        vec[np.array(classes) - 1] = 1
        table[int(img_id.replace('_', ''))] = vec
    np.save(osp.join(root, name), table)


IRN_LABELS = {'2007_000032': [1, 15], '2011_003276': [7]}


def test_irn_int_keyed_labels(tmp_path):
    root = write_tiny_voc(str(tmp_path / 'voc'), IRN_LABELS)
    write_irn_labels(root, IRN_LABELS)
    ds = build(root, img_labels_file='cls_labels.npy')
    assert [ds.get_data_info(i)['img_labels'] for i in range(2)] == \
        [[1, 15], [7]]
    # an id IRN's keys cannot name: refused, saying how to convert
    write_irn_labels(root, {'2007_000032': [1]})
    with pytest.raises(KeyError, match=r"'2011_003276'.*IRN.*JSON"):
        build(root, img_labels_file='cls_labels.npy')
    with pytest.raises(KeyError, match=r"'img_0'.*IRN.*convert"):
        build(write_tiny_voc(str(tmp_path / 'other')),
              img_labels_file=osp.join(root, 'cls_labels.npy'))


def test_derived_labels_write_nothing_by_default(voc_root, tmp_path,
                                                 monkeypatch):
    """Without img_labels_cache the labels are derived in memory: nothing is
    written (under the home folder or elsewhere), and edited masks count."""
    home = tmp_path / 'home'
    home.mkdir()
    monkeypatch.setenv('HOME', str(home))
    before = sorted(os.listdir(voc_root))
    ds = build(voc_root, img_labels_file=None)
    assert [ds.get_data_info(i)['img_labels'] for i in range(4)] == \
        [sorted(TINY_LABELS[i]) for i in TRAIN_IDS]
    assert list(home.iterdir()) == []
    assert sorted(os.listdir(voc_root)) == before
    save_label_png(tiny_mask([5]),
                   osp.join(voc_root, 'SegmentationClass', 'img_0.png'))
    assert build(voc_root, img_labels_file=None).get_data_info(0)[
        'img_labels'] == [5]


def test_derived_labels_and_cache(voc_root, tmp_path):
    cache = str(tmp_path / 'cache')
    ds = build(voc_root, img_labels_file=None, img_labels_cache=cache)
    assert [ds.get_data_info(i)['img_labels'] for i in range(4)] == \
        [sorted(TINY_LABELS[i]) for i in TRAIN_IDS]
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].endswith('.json')
    # the cache is reused: a changed mask does not change the labels
    save_label_png(tiny_mask([5]),
                   osp.join(voc_root, 'SegmentationClass', 'img_0.png'))
    again = build(voc_root, img_labels_file=None, img_labels_cache=cache)
    assert again.get_data_info(0)['img_labels'] == [1]
    # another split gets its own cache entry
    build(voc_root, img_labels_file=None, img_labels_cache=cache,
          ann_file='ImageSets/Segmentation/val.txt')
    assert len(os.listdir(cache)) == 2


def test_derived_labels_reject_bad_mask_value(voc_root, tmp_path):
    path = osp.join(voc_root, 'SegmentationClass', 'img_2.png')
    mask = tiny_mask([3])
    mask[5, 5] = 30
    save_label_png(mask, path)
    with pytest.raises(ValueError, match=r'img_2\.png.*\[30\]'):
        build(voc_root, img_labels_file=None,
              img_labels_cache=str(tmp_path / 'cache'))


def test_derived_labels_need_masks(voc_root, tmp_path):
    with pytest.raises(ValueError, match='seg_map_path'):
        build(voc_root, img_labels_file=None,
              img_labels_cache=str(tmp_path / 'cache'),
              data_prefix=dict(img_path='JPEGImages'))


def test_derived_empty_mask_names_file(voc_root, tmp_path):
    save_label_png(tiny_mask([]),
                   osp.join(voc_root, 'SegmentationClass', 'img_1.png'))
    with pytest.raises(ValueError, match=r"'img_1'.*img_1\.png"):
        build(voc_root, img_labels_file=None,
              img_labels_cache=str(tmp_path / 'cache'))


def remove(root, rel):
    os.remove(osp.join(root, rel))


def write_labels(root, table):
    with open(osp.join(root, 'cls_labels.json'), 'w') as f:
        json.dump(table, f)


def resize_saliency(root, img_id):
    Image.fromarray(np.zeros((SIZE, SIZE + 1), np.uint8)).save(
        osp.join(root, 'SaliencyMaps', img_id + '.png'))


def empty_split(root):
    with open(osp.join(root, 'ImageSets', 'Segmentation', 'train.txt'),
              'w') as f:
        f.write('\n')


BAD_INPUTS = {
    'missing image': (lambda r: remove(r, 'JPEGImages/img_1.jpg'),
                      FileNotFoundError, r"image for id 'img_1'.*img_1\.jpg"),
    'missing mask': (lambda r: remove(r, 'SegmentationClass/img_2.png'),
                     FileNotFoundError, r"mask for id 'img_2'.*img_2\.png"),
    'missing mask dir': (lambda r: os.rename(
        osp.join(r, 'SegmentationClass'), osp.join(r, 'Masks')),
                         FileNotFoundError, 'mask folder.*SegmentationClass'),
    'missing saliency': (lambda r: remove(r, 'SaliencyMaps/img_3.png'),
                         FileNotFoundError,
                         r"saliency map for id 'img_3'.*img_3\.png"),
    'missing label file': (lambda r: remove(r, 'cls_labels.json'),
                           FileNotFoundError, r'cls_labels\.json'),
    'id not in label file': (lambda r: write_labels(
        r, {k: v for k, v in TINY_LABELS.items() if k != 'img_2'}), KeyError,
                             r"cls_labels\.json.*'img_2'"),
    'empty label list': (lambda r: write_labels(r, {**TINY_LABELS, 'img_0': []
                                                    }), ValueError,
                         r"'img_0'.*cls_labels\.json"),
    'label 0': (lambda r: write_labels(r, {**TINY_LABELS, 'img_1': [0, 2]}),
                ValueError, r"cls_labels\.json.*'img_1'.*\[0\].*1\.\.20"),
    'label 21': (lambda r: write_labels(r, {**TINY_LABELS, 'img_1': [21]}),
                 ValueError, r"cls_labels\.json.*'img_1'.*\[21\]"),
    'saliency size': (lambda r: resize_saliency(r, 'img_2'), ValueError,
                      r'img_2\.png is 17x16.*img_2\.jpg is 16x16'),
    'empty split': (empty_split, ValueError, r'train\.txt lists no image ids'),
    'missing split': (lambda r: remove(
        r, 'ImageSets/Segmentation/train.txt'), FileNotFoundError,
                      r'train\.txt'),
}


@pytest.mark.parametrize('case', list(BAD_INPUTS))
def test_bad_input_raises_naming_it(voc_root, case):
    corrupt, error, pattern = BAD_INPUTS[case]
    corrupt(voc_root)
    with pytest.raises(error, match=pattern):
        build(voc_root)


def test_npy_wrong_length(voc_root):
    np.save(
        osp.join(voc_root, 'cls_labels.npy'),
        {k: np.ones(19, np.float32)
         for k in TINY_LABELS})
    with pytest.raises(ValueError, match=r"cls_labels\.npy.*'img_0'.*19.*20"):
        build(voc_root, img_labels_file='cls_labels.npy')


def test_missing_pseudo_label(voc_root, tmp_path):
    pseudo = write_pseudo_dir(tmp_path / 'pl', 0)
    os.remove(osp.join(pseudo, 'img_3.png'))
    with pytest.raises(FileNotFoundError, match=r"pseudo label.*'img_3'"):
        build(voc_root, pseudo_label_dir=pseudo)


@pytest.mark.parametrize('serialize_data', [True, False])
def test_set_label_dirs(voc_root, tmp_path, serialize_data):
    dir_a = write_pseudo_dir(tmp_path / 'a', 0)
    dir_b = write_pseudo_dir(tmp_path / 'b', 1)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadPseudoLabel'),
        dict(type='LoadImageLevelLabels'),
        dict(type='PackWSSSInputs')
    ]
    ds = build(voc_root, pseudo_label_dir=dir_a, pipeline=pipeline,
               serialize_data=serialize_data)

    def labels(idx):
        return ds[idx]['data_samples'].gt_sem_seg.data[0].numpy()

    np.testing.assert_array_equal(labels(1), read_label_map(
        osp.join(dir_a, 'img_1.png')))
    ds.set_label_dirs(dir_b)
    assert ds.pseudo_label_dir == dir_b
    for idx, img_id in enumerate(TRAIN_IDS):
        assert ds.get_data_info(idx)['pseudo_label_path'] == osp.join(
            dir_b, img_id + '.png')
        np.testing.assert_array_equal(
            labels(idx), read_label_map(osp.join(dir_b, img_id + '.png')))
    assert not np.array_equal(labels(1), read_label_map(
        osp.join(dir_a, 'img_1.png')))
    # a folder missing a file is refused and the dataset stays on dir_b
    dir_c = write_pseudo_dir(tmp_path / 'c', 2)
    os.remove(osp.join(dir_c, 'img_2.png'))
    with pytest.raises(FileNotFoundError, match=r"'img_2'.*c/img_2\.png"):
        ds.set_label_dirs(dir_c)
    assert ds.get_data_info(2)['pseudo_label_path'] == osp.join(
        dir_b, 'img_2.png')


def test_class_subset_remaps_labels(voc_root):
    classes = ('background', 'aeroplane', 'bicycle', 'bird')
    with open(osp.join(voc_root, 'sub.txt'), 'w') as f:
        f.write('img_0\nimg_1\nimg_2\n')
    ds = build(voc_root, metainfo=dict(classes=classes), ann_file='sub.txt')
    assert ds.num_classes == 4
    # img_1 holds bicycle and person: person is dropped
    assert [ds.get_data_info(i)['img_labels'] for i in range(3)] == \
        [[1], [2], [3]]
    assert ds.get_data_info(0)['label_map'][15] == 255
    # img_3 holds car and tvmonitor, neither kept: no label is left
    with pytest.raises(ValueError, match=r"'img_3' has no foreground label"):
        build(voc_root, metainfo=dict(classes=classes))


def test_own_label_space(tmp_path):
    labels = {'a': [1], 'b': [2, 4]}
    root = str(tmp_path / 'toy')
    write_tiny_voc(root, labels)
    classes = ('background', 'disc', 'square', 'triangle', 'ring')
    ds = build(root, metainfo=dict(classes=classes))
    assert ds.num_classes == 5 and ds.label_map is None
    assert len(ds.metainfo['palette']) == 5
    assert ds.get_data_info(1)['img_labels'] == [2, 4]
    write_labels(root, {'a': [1], 'b': [5]})
    with pytest.raises(ValueError, match=r"'b'.*\[5\].*1\.\.4"):
        build(root, metainfo=dict(classes=classes))


@pytest.mark.skipif(not osp.isdir(SYNTHVOC), reason='SynthVOC not present')
def test_synthvoc_train_builds():
    """(Build time: bench/dataset_build.py.)"""
    ds = WSSSVOCDataset(data_root=SYNTHVOC, saliency_dir='SaliencyMaps')
    assert len(ds) == 3000
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert all(info['img_labels'] for info in infos)
    assert all(1 <= c <= 20 for info in infos for c in info['img_labels'])
