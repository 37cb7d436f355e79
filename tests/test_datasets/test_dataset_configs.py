import copy
import json
import os
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.config import Config
from mmseg.apis import MMSegInferencer
from mmseg.apis.utils import _preprare_data
from mmseg.registry import DATASETS
from PIL import Image

from mmseg_wsss.utils.io import save_label_png
from .conftest import write_tiny_voc

CONFIG_DIR = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets')
SYNTHVOC = '/work/shared/data/synthvoc'
PIPELINES = ('train_pipeline', 'train_pseudo_pipeline', 'train_full_pipeline',
             'test_pipeline')
CONFIGS = ['synthvoc.py', 'toy.py', 'voc12aug_wsss.py', 'coco14_wsss.py']


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


@pytest.mark.parametrize('name', CONFIGS)
def test_config_parses(name):
    cfg = load(name)
    for key in PIPELINES:
        assert cfg[key][-1]['type'] == 'PackWSSSInputs'
    assert not any(t['type'] == 'LoadAnnotations'
                   for t in cfg.train_pipeline + cfg.train_pseudo_pipeline)
    assert cfg.val_dataloader.dataset.test_mode is True
    assert cfg.train_dataloader.dataset.get('test_mode', False) is False
    assert cfg.val_evaluator.type == 'IoUMetric'


@pytest.mark.skipif(not osp.isdir(SYNTHVOC), reason='SynthVOC not present')
def test_synthvoc_datasets_build_and_load():
    cfg = load('synthvoc.py')
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.data_root = SYNTHVOC
    train = DATASETS.build(train_cfg)
    assert len(train) == 3000
    sample = train[0]
    assert max(sample['inputs'].shape[1:]) <= 224
    assert sample['data_samples'].gt_img_labels.shape == (20, )
    assert 'gt_sem_seg' not in sample['data_samples']

    val_cfg = cfg.val_dataloader.dataset
    val_cfg.data_root = SYNTHVOC
    val = DATASETS.build(val_cfg)
    assert len(val) == 500
    sample = val[0]
    assert sample['data_samples'].gt_sem_seg.shape == (256, 256)
    assert sample['data_samples'].gt_img_labels.sum() >= 1


def test_toy_pseudo_and_full_pipelines(tmp_path):
    cfg = load('toy.py')
    labels = {'train_00000': [1, 4], 'train_00001': [2], 'train_00002': [3]}
    root = write_tiny_voc(str(tmp_path / 'toy'), labels, size=128)
    pseudo_dir = str(tmp_path / 'pl')
    for img_id in labels:
        save_label_png(np.full((128, 128), 2, np.uint8),
                       osp.join(pseudo_dir, img_id + '.png'))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = root

    pseudo = DATASETS.build(
        dict(ds_cfg, pseudo_label_dir=pseudo_dir,
             pipeline=cfg.train_pseudo_pipeline))
    assert pseudo.num_classes == 5
    gt = pseudo[0]['data_samples'].gt_sem_seg.data
    assert gt.shape[0] == 1 and max(gt.shape[1:]) <= 112
    assert set(gt.unique().tolist()) == {2}

    full = DATASETS.build(
        dict(ds_cfg, allow_gt_masks=True, pipeline=cfg.train_full_pipeline))
    gt = full[0]['data_samples'].gt_sem_seg.data
    assert set(gt.unique().tolist()) <= {0, 1, 4, 255}
    with pytest.raises(ValueError, match='ground-truth mask'):
        DATASETS.build(dict(ds_cfg, pipeline=cfg.train_full_pipeline))[0]


def write_jpeg(path, img, orientation=None):
    """A near-lossless JPEG, with an EXIF Orientation tag if given."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(img).save(path, exif=exif, quality=100, subsampling=0)


def block_mask(height, width):
    """Asymmetric 8-px-aligned blocks of classes 1 and 2 on background."""
    mask = np.zeros((height, width), np.uint8)
    mask[:height // 2, :width * 3 // 8] = 1
    mask[height * 5 // 8:height * 7 // 8, width * 9 // 16:width * 15 // 16] = 2
    return mask


def write_exif_voc(root, shapes):
    """A VOC-layout set whose JPEGs carry EXIF Orientation=6 (display
    rotated by 90 degrees); stored pixels are grey 230 on the mask's objects
    and 20 elsewhere; saliency equals the mask's foreground."""
    for sub in ('JPEGImages', 'SegmentationClass', 'SaliencyMaps',
                'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for img_id, (height, width) in shapes.items():
        mask = block_mask(height, width)
        grey = np.where(mask > 0, 230, 20).astype(np.uint8)
        img = np.repeat(grey[..., None], 3, axis=2)
        write_jpeg(osp.join(root, 'JPEGImages', img_id + '.jpg'), img, 6)
        save_label_png(mask, osp.join(root, 'SegmentationClass',
                                      img_id + '.png'))
        Image.fromarray((mask > 0).astype(np.uint8) * 255).save(
            osp.join(root, 'SaliencyMaps', img_id + '.png'))
    for split in ('train', 'val'):
        with open(osp.join(root, 'ImageSets', 'Segmentation', split + '.txt'),
                  'w') as f:
            f.writelines(i + '\n' for i in shapes)
    with open(osp.join(root, 'cls_labels.json'), 'w') as f:
        json.dump({i: [1, 2] for i in shapes}, f)
    return root


def fg_agreement(sample):
    """Fraction of pixels where image (> 128) and mask (> 0) agree on
    foreground, and the mask's foreground fraction."""
    img_fg = sample['inputs'][0] > 128
    gt_fg = sample['data_samples'].gt_sem_seg.data[0] > 0
    assert img_fg.shape == gt_fg.shape
    return (img_fg == gt_fg).float().mean().item(), gt_fg.float().mean().item()


EXIF_SHAPES = {'square': (128, 128), 'wide': (96, 128)}


def test_exif_rotated_jpeg_stays_aligned_with_its_mask(tmp_path):
    """A JPEG with EXIF Orientation=6 is read as stored, like its mask and
    saliency map: aligned through the toy config's test and training
    pipelines, and a non-square one does not fail."""
    cfg = load('toy.py')
    root = write_exif_voc(str(tmp_path / 'exif'), EXIF_SHAPES)
    val = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=root))
    for idx, (height, width) in enumerate(EXIF_SHAPES.values()):
        sample = val[idx]
        assert sample['inputs'].shape == (3, height, width)
        assert fg_agreement(sample)[0] == 1
    train = DATASETS.build(
        dict(cfg.train_dataloader.dataset, data_root=root,
             allow_gt_masks=True, pipeline=cfg.train_full_pipeline))
    np.random.seed(0)
    for idx in (0, 1) * 3:
        agreement, fg = fg_agreement(train[idx])
        assert fg > 0.05 and agreement > 0.97


@pytest.mark.parametrize('name', CONFIGS)
def test_pipelines_read_images_ignoring_exif(name, tmp_path):
    """Every pipeline of every dataset config reads the stored pixels."""
    cfg = load(name)
    path = str(tmp_path / 'rot.jpg')
    write_jpeg(path, np.zeros((16, 24, 3), np.uint8), 6)
    for key in PIPELINES:
        loader = Compose(cfg[key][:1])
        assert loader(dict(img_path=path))['img'].shape == (16, 24, 3), key


@pytest.mark.parametrize('name', CONFIGS)
def test_test_pipeline_runs_on_a_bare_image(name, tmp_path):
    """What mmseg's inference_model and MMSegInferencer run on a new photo
    (no labels, no mask) works with the dataset config and packs no image
    labels; training pipelines still demand labels."""
    cfg = load(name)
    img = np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)
    path = str(tmp_path / 'new.jpg')
    write_jpeg(path, img)
    # inference_model: the top-level test_pipeline, LoadAnnotations dropped
    for inputs in (path, img):
        data, _ = _preprare_data(inputs,
                                 SimpleNamespace(cfg=copy.deepcopy(cfg)))
        assert data['inputs'][0].shape == (3, 20, 30)
        assert 'gt_img_labels' not in data['data_samples'][0]
    # MMSegInferencer: the test loader's pipeline through InferencerLoader
    pipeline = MMSegInferencer._init_pipeline(
        MMSegInferencer.__new__(MMSegInferencer), copy.deepcopy(cfg))
    for inputs in (path, img):
        packed = pipeline(inputs)
        assert packed['inputs'].shape == (3, 20, 30)
        assert 'gt_img_labels' not in packed['data_samples']
    with pytest.raises(KeyError, match=r'new\.jpg.*img_labels'):
        Compose(cfg.train_pipeline)(dict(img_path=path))
