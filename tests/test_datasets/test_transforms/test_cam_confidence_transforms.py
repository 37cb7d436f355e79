"""LoadCAMConfidence and ComputeRAWReliability (cosa.md 5 (a)): nu is the
CAM maximum, it moves with the pseudo label through the stock geometric
transforms, r = 1 / perplexity(nu), and bad files fail naming the file."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope
from PIL import Image

import mmseg_wsss  # noqa: F401  (registers the transforms)
from mmseg_wsss.datasets.transforms import (ComputeRAWReliability,
                                            LoadCAMConfidence)
from mmseg_wsss.pseudo_labels.online import perplexity
from mmseg_wsss.utils.io import read_cam, save_label_png

SIZE = 12


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _write(root, img_id='a', label=None, cam=None):
    """A pseudo label PNG and its CAMs in ``root/labels`` (the writer's
    layout); returns the results dict a WSSS dataset would give."""
    label_dir = osp.join(root, 'labels')
    os.makedirs(osp.join(label_dir, 'cams'), exist_ok=True)
    if label is None:
        label = np.zeros((SIZE, SIZE), np.uint8)
    if cam is None:
        cam = np.random.default_rng(0).random((4, SIZE, SIZE))
    label_path = osp.join(label_dir, f'{img_id}.png')
    save_label_png(label, label_path)
    np.save(osp.join(label_dir, 'cams', f'{img_id}.npy'),
            cam.astype(np.float16))
    return dict(
        img_id=img_id,
        img_path=osp.join(root, f'{img_id}.jpg'),
        pseudo_label_path=label_path,
        img_shape=label.shape)


def test_confidence_is_the_cam_maximum(tmp_path):
    cam = np.random.default_rng(1).random((4, SIZE, SIZE))
    results = _write(str(tmp_path), cam=cam)
    results['num_classes'] = 5
    out = LoadCAMConfidence()(results)
    expected = cam.astype(np.float16).astype(np.float32).max(axis=0)
    assert out['gt_cam_conf'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_cam_conf'], expected)
    assert 'gt_cam_conf' in out['seg_fields']


def test_cam_dir_overrides_the_label_folder(tmp_path):
    results = _write(str(tmp_path))
    other = tmp_path / 'elsewhere'
    other.mkdir()
    cam = np.full((4, SIZE, SIZE), 0.25)
    np.save(other / 'a.npy', cam.astype(np.float16))
    out = LoadCAMConfidence(cam_dir=str(other))(results)
    np.testing.assert_array_equal(out['gt_cam_conf'], 0.25)


def test_reliability_is_inverse_perplexity(tmp_path):
    cam = np.random.default_rng(2).random((4, SIZE, SIZE))
    cam[:, 0, 0] = 0.  # nu = 0 and nu = 1: the smallest perplexity
    cam[0, 0, 1] = 1.
    results = LoadCAMConfidence()(_write(str(tmp_path), cam=cam))
    out = ComputeRAWReliability(threshold=0.45)(results)
    conf = torch.from_numpy(out['gt_cam_conf'])
    expected = (1 / perplexity(conf, 0.45, 0.8, 1.0)).numpy()
    assert out['gt_pixel_weight'].dtype == np.float32
    np.testing.assert_allclose(out['gt_pixel_weight'], expected, rtol=1e-6)
    np.testing.assert_allclose(out['gt_pixel_weight'][0, :2],
                               1 / -np.log(0.8), rtol=1e-5)
    assert (out['gt_pixel_weight'] > 0).all()
    assert 'gt_pixel_weight' in out['seg_fields']
    # dual threshold: band pixels get the smallest reliability
    dual = ComputeRAWReliability(threshold=(0.3, 0.6))(dict(
        gt_cam_conf=np.array([[0.0, 0.45, 1.0]], np.float32)))
    r = dual['gt_pixel_weight'][0]
    assert r[1] < r[0] and r[1] < r[2]


def test_geometry_follows_the_label_map(tmp_path):
    """Stock RandomResize / RandomCrop / RandomFlip move nu and r exactly as
    the pseudo label: a label that encodes its position keeps
    ``nu = f(label)`` at every output pixel."""
    label = np.arange(SIZE * SIZE, dtype=np.uint8).reshape(SIZE, SIZE)
    conf = label.astype(np.float64) / 255

    def f(values):
        return (values.astype(np.float64) / 255).astype(np.float16).astype(
            np.float32)

    cam = np.stack([conf, conf * 0.5])
    results = _write(str(tmp_path), label=label, cam=cam)
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(
        results['img_path'])
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='LoadPseudoLabel'),
        dict(type='LoadCAMConfidence'),
        dict(type='ComputeRAWReliability', threshold=0.5),
        dict(type='RandomResize', scale=(18, 18), ratio_range=(1., 1.),
             keep_ratio=True),
        dict(type='RandomCrop', crop_size=(10, 8)),
        dict(type='RandomFlip', prob=1.0),
        dict(type='PackWSSSInputs'),
    ])
    np.random.seed(0)
    sample = pipeline(dict(results))['data_samples']
    seg = sample.gt_sem_seg.data[0].numpy()
    weight = sample.gt_pixel_weight.data
    assert weight.shape == (1, 10, 8) and weight.dtype == torch.float32
    # resized (18 / 12), cropped and flipped: not the original layout
    assert seg.shape == (10, 8) and (np.diff(seg, axis=1) <= 0).all()
    expected = 1 / perplexity(torch.from_numpy(f(seg)), 0.5)
    torch.testing.assert_close(weight[0], expected)


def test_missing_cam_file_names_it(tmp_path):
    results = _write(str(tmp_path))
    missing = osp.join(str(tmp_path), 'labels', 'cams', 'a.npy')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match=missing):
        LoadCAMConfidence()(results)
    results.pop('pseudo_label_path')
    with pytest.raises(KeyError, match='pseudo_label_path'):
        LoadCAMConfidence()(results)


def test_bad_cams_are_refused_naming_the_file(tmp_path):
    results = _write(str(tmp_path), cam=np.zeros((4, SIZE, SIZE - 1)))
    with pytest.raises(ValueError, match=r'a\.npy.*label map is 12x12'):
        LoadCAMConfidence()(dict(results, gt_seg_map=np.zeros((SIZE, SIZE))))
    with pytest.raises(ValueError, match=r'a\.npy is 12x11.*12x12'):
        LoadCAMConfidence()(dict(results))  # checked against the image
    results = _write(str(tmp_path), cam=np.zeros((2, SIZE, SIZE)))
    with pytest.raises(ValueError, match='holds 2 maps; expected one per '
                       r'foreground class \(4\)'):
        LoadCAMConfidence()(dict(results, num_classes=5))
    results = _write(str(tmp_path), cam=np.full((4, SIZE, SIZE), 2.))
    with pytest.raises(ValueError, match=r'a\.npy holds values in'):
        LoadCAMConfidence()(results)
    bad = tmp_path / 'labels' / 'cams' / 'a.npy'
    bad.write_bytes(b'not an array')
    with pytest.raises(ValueError, match='not a .npy array'):
        read_cam(str(bad))
    np.save(bad, np.zeros((SIZE, SIZE), np.float16))
    with pytest.raises(ValueError, match='expected a K x H x W float'):
        read_cam(str(bad))


def test_reliability_arguments_and_order_are_checked():
    with pytest.raises(ValueError, match='lambda_alpha'):
        ComputeRAWReliability(lambda_alpha=1.5)
    with pytest.raises(ValueError):
        ComputeRAWReliability(threshold=1.0)
    with pytest.raises(KeyError, match='add LoadCAMConfidence'):
        ComputeRAWReliability()(dict(img_path='x.jpg'))
