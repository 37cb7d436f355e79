import os.path as osp

import mmcv
import numpy as np
import pytest
from mmcv.transforms import Compose
from PIL import Image

from mmseg_wsss.datasets.transforms import (LoadImageLevelLabels,
                                            LoadPseudoLabel, LoadSaliencyMap)
from mmseg_wsss.utils.io import read_saliency, save_label_png


def test_image_level_labels_multi_hot():
    out = LoadImageLevelLabels()(dict(img_labels=[1, 3, 20], num_classes=21))
    expected = np.zeros(20, np.float32)
    expected[[0, 2, 19]] = 1
    assert out['gt_img_labels'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_img_labels'], expected)
    # the argument wins over the results key
    out = LoadImageLevelLabels(num_classes=5)(dict(img_labels=[4]))
    np.testing.assert_array_equal(out['gt_img_labels'], [0, 0, 0, 1])


@pytest.mark.parametrize('labels', [[0], [21], [2, 25]])
def test_image_level_labels_out_of_range(labels):
    with pytest.raises(ValueError, match=r'a\.jpg.*outside.*1\.\.20'):
        LoadImageLevelLabels()(
            dict(img_path='a.jpg', img_labels=labels, num_classes=21))


def test_image_level_labels_needs_labels_and_classes():
    with pytest.raises(ValueError, match='empty'):
        LoadImageLevelLabels(num_classes=21)(dict(img_labels=[]))
    with pytest.raises(KeyError, match='num_classes'):
        LoadImageLevelLabels()(dict(img_labels=[1]))
    with pytest.raises(KeyError, match='img_labels'):
        LoadImageLevelLabels(num_classes=21)(dict(img_path='a.jpg'))


def test_image_level_labels_allow_missing():
    """A bare image (inference) passes a test pipeline's loader unchanged;
    the default (training) still refuses it."""
    results = dict(img_path='new.jpg')
    assert LoadImageLevelLabels(allow_missing=True)(dict(results)) == results
    with pytest.raises(KeyError, match=r'new\.jpg.*img_labels'):
        LoadImageLevelLabels()(dict(results))
    # labels present: converted as usual
    out = LoadImageLevelLabels(allow_missing=True)(
        dict(img_labels=[2], num_classes=4))
    np.testing.assert_array_equal(out['gt_img_labels'], [0, 1, 0])


def write_grey(path, arr):
    Image.fromarray(arr).save(path)
    return str(path)


def test_saliency_float_and_binarized(tmp_path):
    sal = np.array([[0, 51, 102], [153, 204, 255]], np.uint8)
    path = write_grey(tmp_path / 's.png', sal)
    results = dict(sal_path=path, img_shape=(2, 3), seg_fields=[])
    out = LoadSaliencyMap()(dict(results, seg_fields=[]))
    assert out['gt_saliency'].dtype == np.float32
    np.testing.assert_allclose(out['gt_saliency'], sal / 255, atol=1e-6)
    assert out['seg_fields'] == ['gt_saliency']
    out = LoadSaliencyMap(binarize_thr=0.6)(dict(results, seg_fields=[]))
    assert out['gt_saliency'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_saliency'], [[0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match='binarize_thr'):
        LoadSaliencyMap(binarize_thr=1.5)


def test_saliency_16_bit_as_read_saliency(tmp_path):
    """A 16-bit grey map at 30/255 of full scale reads as 30/255 (not
    clipped to 1), identically in the transform and in read_saliency."""
    path = str(tmp_path / 's16.png')
    sal16 = np.full((3, 4), 30 * 257, np.uint16)
    sal16[0, 0] = 65535
    Image.fromarray(sal16).save(path)
    out = LoadSaliencyMap()(dict(sal_path=path, img_shape=(3, 4)))
    assert out['gt_saliency'].dtype == np.float32
    np.testing.assert_allclose(out['gt_saliency'][1:], 30 / 255, atol=1e-6)
    assert out['gt_saliency'][0, 0] == 1
    np.testing.assert_array_equal(out['gt_saliency'], read_saliency(path))
    binary = LoadSaliencyMap(binarize_thr=0.5)(
        dict(sal_path=path, img_shape=(3, 4)))['gt_saliency']
    assert binary.sum() == 1 and binary[0, 0] == 1


def test_saliency_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope\.png'):
        LoadSaliencyMap()(dict(sal_path=str(tmp_path / 'nope.png')))
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    with pytest.raises(OSError, match=r'broken\.png'):
        LoadSaliencyMap()(dict(sal_path=str(broken)))
    path = write_grey(tmp_path / 's.png', np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match=r's\.png is 4x5.*a\.jpg is 4x4'):
        LoadSaliencyMap()(
            dict(sal_path=path, img_path='a.jpg', img_shape=(4, 4)))
    with pytest.raises(KeyError, match='saliency_dir'):
        LoadSaliencyMap()(dict(img_path='a.jpg'))
    Image.fromarray(np.zeros((4, 4), np.uint8)).convert('P').save(
        tmp_path / 'p.png')
    with pytest.raises(ValueError, match=r"p\.png.*mode 'P'"):
        LoadSaliencyMap()(dict(sal_path=str(tmp_path / 'p.png')))


@pytest.mark.parametrize('seed', range(3))
def test_saliency_follows_geometric_transforms(tmp_path, seed):
    """A saliency map equal to the image's first channel stays equal to it
    through RandomResize, RandomCrop and RandomFlip."""
    rng = np.random.default_rng(seed)
    img_path = str(tmp_path / 'img.jpg')
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), np.uint8)).save(img_path)
    decoded = mmcv.imread(img_path)  # as LoadImageFromFile reads it (BGR)
    sal_path = write_grey(tmp_path / 'sal.png', decoded[..., 0])
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='LoadSaliencyMap'),
        dict(
            type='RandomResize',
            scale=(48, 40),
            ratio_range=(0.8, 1.5),
            keep_ratio=True,
            interpolation='nearest'),
        dict(type='RandomCrop', crop_size=(24, 24)),
        dict(type='RandomFlip', prob=1.0),
    ])
    np.random.seed(seed)
    out = pipeline(dict(img_path=img_path, sal_path=sal_path, seg_fields=[]))
    assert out['flip'] and out['img'].shape[:2] == (24, 24)
    assert out['gt_saliency'].shape == (24, 24)
    np.testing.assert_array_equal(out['gt_saliency'],
                                  out['img'][..., 0].astype(np.float32) / 255)
    # the crop is not the top-left corner of the unflipped image (i.e. the
    # transforms did act on both)
    assert not np.array_equal(out['img'][..., 0], decoded[:24, :24, 0])


def pseudo_results(path, **kwargs):
    return dict(
        img_path='a.jpg',
        pseudo_label_path=path,
        img_shape=(4, 4),
        num_classes=21,
        seg_fields=[],
        **kwargs)


def test_pseudo_label_loads(tmp_path):
    label = np.array([[0, 1, 2, 255]] * 4, np.uint8)
    path = str(tmp_path / 'a.png')
    save_label_png(label, path)
    out = LoadPseudoLabel()(pseudo_results(path))
    assert out['gt_seg_map'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_seg_map'], label)
    assert out['seg_map_is_pseudo'] is True
    assert out['seg_fields'] == ['gt_seg_map']


def test_pseudo_label_errors(tmp_path):
    with pytest.raises(KeyError, match='pseudo_label_dir'):
        LoadPseudoLabel()(dict(img_path='a.jpg'))
    missing = str(tmp_path / 'missing.png')
    with pytest.raises(FileNotFoundError, match=r'missing\.png'):
        LoadPseudoLabel()(pseudo_results(missing))
    bad = str(tmp_path / 'bad.png')
    save_label_png(np.full((4, 4), 30, np.uint8), bad)
    with pytest.raises(ValueError, match=r'bad\.png.*\[30\]'):
        LoadPseudoLabel()(pseudo_results(bad))
    small = str(tmp_path / 'small.png')
    save_label_png(np.zeros((3, 4), np.uint8), small)
    with pytest.raises(ValueError, match=r'small\.png is 3x4'):
        LoadPseudoLabel()(pseudo_results(small))
    ok = str(tmp_path / 'ok.png')
    save_label_png(np.zeros((4, 4), np.uint8), ok)
    with pytest.raises(ValueError, match='already loaded'):
        LoadPseudoLabel()(
            pseudo_results(ok, gt_seg_map=np.zeros((4, 4), np.uint8)))
    assert osp.isfile(ok)
