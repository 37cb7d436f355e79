"""Procedural toy WSSS set in VOC layout (demo and tests; no external asset).

Each image holds 1..``max_objects`` textured shapes on a smooth noisy
background. A class is identified by its shape and by its texture:

===========  ========  ==============================================
class        shape     texture (two random colours)
===========  ========  ==============================================
disc         disc      stripes running vertically (angle 0 +- 15 deg)
square       square    checkerboard
triangle     triangle  fine stripes at 45 +- 15 deg
ring         ring      dots
===========  ========  ==============================================

Backgrounds are smooth random colour fields with pixel noise and never use a
class texture. Later objects occlude earlier ones; an object is placed only if
every object keeps at least half of its pixels visible.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from mmengine import list_from_file
from PIL import Image

from mmseg_wsss.structures import IGNORE_INDEX
from mmseg_wsss.utils.io import (VOC_PALETTE, atomic_save, atomic_write,
                                 save_label_png)

TOY_CLASSES = ('background', 'disc', 'square', 'triangle', 'ring')
TOY_PALETTE = [list(map(int, c)) for c in VOC_PALETTE[:len(TOY_CLASSES)]]
TOY_META_FILE = 'toy_meta.json'

_SPLITS = ('train', 'val')
_FILES = {
    'JPEGImages': 'jpg',
    'SegmentationClass': 'png',
    'SaliencyMaps': 'png'
}
_MIN_VISIBLE_FRACTION = 0.5
_PLACEMENT_TRIES = 20


def _rotated(coords: Tuple[np.ndarray, np.ndarray],
             angle: float) -> Tuple[np.ndarray, np.ndarray]:
    """Coordinates ``(y, x)`` rotated by ``angle`` radians."""
    y, x = coords
    c, s = np.cos(angle), np.sin(angle)
    return c * y - s * x, s * y + c * x


def _texture(cls: int, coords: Tuple[np.ndarray, np.ndarray],
             rng: np.random.Generator, scale: float) -> np.ndarray:
    """The class texture as an ``H x W`` float pattern in [0, 1]."""
    jitter = np.deg2rad(rng.uniform(-15, 15))
    if cls == 1:  # disc: coarse stripes
        _, x = _rotated(coords, jitter)
        period = 8 * scale
        return np.clip(
            3 * np.sin(2 * np.pi * x / period + rng.uniform(0, 2 * np.pi)), -1,
            1) * 0.5 + 0.5
    if cls == 2:  # square: checkerboard
        y, x = _rotated(coords, jitter)
        period = 10 * scale
        off_y, off_x = rng.uniform(0, period, 2)
        return ((np.floor((y + off_y) / (period / 2)) + np.floor(
            (x + off_x) / (period / 2))) % 2).astype(np.float32)
    if cls == 3:  # triangle: fine diagonal stripes
        _, x = _rotated(coords, np.pi / 4 + jitter)
        period = 5 * scale
        return np.clip(
            3 * np.sin(2 * np.pi * x / period + rng.uniform(0, 2 * np.pi)), -1,
            1) * 0.5 + 0.5
    if cls == 4:  # ring: dots on a grid
        y, x = _rotated(coords, jitter)
        period = 6 * scale
        off_y, off_x = rng.uniform(0, period, 2)
        fy = (y + off_y) / period % 1 - 0.5
        fx = (x + off_x) / period % 1 - 0.5
        return (fy**2 + fx**2 < 0.3**2).astype(np.float32)
    raise ValueError(f'toy class must lie in 1..{len(TOY_CLASSES) - 1}, '
                     f'got {cls}')


def _shape_mask(cls: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Binary ``size x size`` mask of a randomly placed class shape."""
    radius = rng.uniform(0.12, 0.28) * size
    cy, cx = rng.uniform(0.5 * radius, size - 0.5 * radius, 2)
    angle = rng.uniform(0, 2 * np.pi)
    mask = np.zeros((size, size), np.uint8)
    center = (int(round(cx)), int(round(cy)))
    if cls == 1:
        cv2.circle(mask, center, int(round(radius)), 1, -1)
    elif cls == 4:
        cv2.circle(mask, center, int(round(radius)), 1, -1)
        cv2.circle(mask, center, int(round(radius * 0.55)), 0, -1)
    else:
        corners = 4 if cls == 2 else 3
        scale = 0.9 if cls == 2 else 1.1
        theta = angle + 2 * np.pi * np.arange(corners) / corners
        xs = cx + scale * radius * np.cos(theta)
        ys = cy + scale * radius * np.sin(theta)
        pts = np.round(np.stack([xs, ys], axis=1)).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def _random_colours(rng: np.random.Generator,
                    min_dist: float = 100.) -> Tuple[np.ndarray, np.ndarray]:
    """Two RGB colours at least ``min_dist`` apart."""
    while True:
        c1, c2 = rng.uniform(0, 255, (2, 3))
        if np.linalg.norm(c1 - c2) >= min_dist:
            return c1, c2


def _smooth_field(rng: np.random.Generator, size: int, grid: int,
                  channels: int) -> np.ndarray:
    """Uniform noise on a ``grid x grid`` lattice, upsampled bicubically."""
    low = rng.uniform(0, 1, (grid, grid, channels)).astype(np.float32)
    field = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    return field.reshape(size, size, channels)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth random colour field plus pixel noise, ``H x W x 3`` float."""
    coarse = _smooth_field(rng, size, int(rng.integers(2, 6)), 3) * 255
    fine = (_smooth_field(rng, size, 16, 3) - 0.5) * rng.uniform(10, 40)
    noise = rng.normal(0, rng.uniform(3, 12), (size, size, 3))
    return coarse + fine + noise


def _boundary(instances: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour of another instance (1-px band)."""
    band = np.zeros(instances.shape, bool)
    diff_y = instances[1:] != instances[:-1]
    diff_x = instances[:, 1:] != instances[:, :-1]
    band[1:] |= diff_y
    band[:-1] |= diff_y
    band[:, 1:] |= diff_x
    band[:, :-1] |= diff_x
    return band & (instances > 0)


def _saliency(instances: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Imperfect class-agnostic saliency, ``H x W`` uint8.

    The union of the objects, each with a random strength, blurred, with a
    smooth noise field and sometimes a spurious blob on the background.
    """
    size = instances.shape[0]
    strength = np.concatenate([[0.],
                               rng.uniform(0.7, 1.0, int(instances.max()))])
    sal = strength[instances].astype(np.float32)
    if rng.random() < 0.3:
        blob = np.zeros_like(sal)
        cy, cx = rng.integers(0, size, 2)
        cv2.circle(blob, (int(cx), int(cy)),
                   int(rng.uniform(0.04, 0.08) * size), 1., -1)
        sal = np.maximum(sal, blob * rng.uniform(0.3, 0.5))
    sal = cv2.GaussianBlur(sal, (0, 0), sigmaX=0.02 * size + 1)
    sal += (_smooth_field(rng, size, 4, 1)[..., 0] - 0.5) * 0.2
    return np.round(np.clip(sal, 0, 1) * 255).astype(np.uint8)


def _place_objects(
        rng: np.random.Generator, size: int,
        max_objects: int) -> Tuple[List[int], List[np.ndarray], np.ndarray]:
    """Sample classes and masks; occlusion keeps each object visible.

    Returns:
        tuple: class of each object, its full mask, and the ``H x W`` int
        instance map (0 background, k for the k-th object, later on top).
    """
    min_pixels = max(30, int(0.004 * size * size))
    instances = np.zeros((size, size), np.int32)
    classes: List[int] = []
    masks: List[np.ndarray] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(1, len(TOY_CLASSES)))
        for _ in range(_PLACEMENT_TRIES):
            mask = _shape_mask(cls, size, rng)
            if mask.sum() < min_pixels:
                continue
            left = np.bincount(instances[~mask], minlength=len(masks) + 1)[1:]
            full = np.array([m.sum() for m in masks])
            if np.all(left >= np.maximum(_MIN_VISIBLE_FRACTION *
                                         full, min_pixels)):
                break
        else:
            continue
        classes.append(cls)
        masks.append(mask)
        instances[mask] = len(masks)
    if not masks:
        raise RuntimeError(f'no toy object could be placed in a {size}x'
                           f'{size} image; use size >= 32')
    return classes, masks, instances


def _make_sample(
        rng: np.random.Generator, size: int,
        max_objects: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image, its label map and saliency map.

    Returns:
        tuple: ``H x W x 3`` uint8 RGB image, ``H x W`` uint8 label map
        (0 background, 1..4 classes, 255 on the object boundary band) and
        ``H x W`` uint8 saliency.
    """
    classes, masks, instances = _place_objects(rng, size, max_objects)
    coords = tuple(np.mgrid[:size, :size].astype(np.float32))
    scale = max(size / 128, 0.6)
    img = _background(rng, size)
    for cls, mask in zip(classes, masks):
        pattern = _texture(cls, coords, rng, scale)[mask, None]
        c1, c2 = _random_colours(rng)
        img[mask] = c2 + (c1 - c2) * pattern
    img += rng.normal(0, 3, img.shape)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)

    label = np.concatenate([[0], classes]).astype(np.uint8)[instances]
    label[_boundary(instances)] = IGNORE_INDEX
    return img, label, _saliency(instances, rng)


def load_toy_meta(out_dir: str) -> Optional[dict]:
    """The parameters a complete toy set in ``out_dir`` was made with.

    Returns:
        dict | None: the parameters, or None if ``out_dir`` does not hold a
        complete set (no meta file, or a listed file is missing).
    """
    meta_path = osp.join(out_dir, TOY_META_FILE)
    if not osp.isfile(meta_path):
        return None
    with open(meta_path) as f:
        meta = json.load(f)
    for split in _SPLITS:
        split_file = osp.join(out_dir, 'ImageSets', 'Segmentation',
                              f'{split}.txt')
        if not osp.isfile(split_file):
            return None
        ids = list_from_file(split_file)
        if len(ids) != meta.get(f'num_{split}'):
            return None
        for img_id in ids:
            for sub, ext in _FILES.items():
                if not osp.isfile(osp.join(out_dir, sub, f'{img_id}.{ext}')):
                    return None
    if not osp.isfile(osp.join(out_dir, 'cls_labels.json')):
        return None
    return meta


def make_toy_dataset(out_dir: str,
                     num_train: int = 200,
                     num_val: int = 50,
                     size: int = 128,
                     seed: int = 0,
                     max_objects: int = 3) -> Dict:
    """Write the toy set in SynthVOC's layout to ``out_dir``.

    Files: ``JPEGImages/<id>.jpg`` (quality 95), ``SegmentationClass/<id>.png``
    (VOC palette; 0 background, 1..4 :data:`TOY_CLASSES`, 255 on a 1-px object
    boundary band), ``SaliencyMaps/<id>.png`` (grey),
    ``ImageSets/Segmentation/{train,val}.txt``, ``cls_labels.json``
    (``{id: [sorted foreground ids]}``) and ``toy_meta.json`` (the parameters,
    written last). Ids are ``train_00000`` ... and ``val_00000`` ...

    Image ``i`` of a split depends only on the arguments and ``(split, i)``,
    so the same seed always gives the same files.

    Args:
        out_dir (str): Output folder (created).
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        size (int): Side of the square images, at least 32.
        seed (int): Random seed.
        max_objects (int): Most objects in one image (at least 1).

    Returns:
        dict: ``data_root``, ``classes``, ``palette``, ``num_train``,
        ``num_val``, ``split_files`` (``{split: path}``), ``cls_labels``
        (path) and ``img_labels`` (``{id: [ids]}``).
    """
    if size < 32:
        raise ValueError(f'toy image size must be >= 32, got {size}')
    if max_objects < 1:
        raise ValueError(f'max_objects must be >= 1, got {max_objects}')
    counts = dict(train=num_train, val=num_val)
    for split, num in counts.items():
        if num < 0:
            raise ValueError(f'num_{split} must be >= 0, got {num}')
    meta_path = osp.join(out_dir, TOY_META_FILE)
    if osp.exists(meta_path):
        os.remove(meta_path)
    split_dir = osp.join(out_dir, 'ImageSets', 'Segmentation')
    for sub in _FILES:
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    os.makedirs(split_dir, exist_ok=True)

    img_labels: Dict[str, List[int]] = {}
    split_files = {}
    for split_idx, split in enumerate(_SPLITS):
        ids = [f'{split}_{i:05d}' for i in range(counts[split])]
        for i, img_id in enumerate(ids):
            rng = np.random.default_rng([seed, split_idx, i])
            img, label, sal = _make_sample(rng, size, max_objects)
            path = {
                sub: osp.join(out_dir, sub, f'{img_id}.{ext}')
                for sub, ext in _FILES.items()
            }
            with atomic_write(path['JPEGImages']) as f:
                Image.fromarray(img).save(f, format='JPEG', quality=95)
            save_label_png(label, path['SegmentationClass'])
            atomic_save(Image.fromarray(sal), path['SaliencyMaps'])
            fg = np.unique(label)
            img_labels[img_id] = [int(c) for c in fg if 0 < c < IGNORE_INDEX]
        split_files[split] = osp.join(split_dir, f'{split}.txt')
        with atomic_write(split_files[split], 'w') as f:
            f.writelines(f'{img_id}\n' for img_id in ids)

    cls_labels = osp.join(out_dir, 'cls_labels.json')
    with atomic_write(cls_labels, 'w') as f:
        json.dump(img_labels, f)
    with atomic_write(meta_path, 'w') as f:
        json.dump(
            dict(
                num_train=num_train,
                num_val=num_val,
                size=size,
                seed=seed,
                max_objects=max_objects), f)
    return dict(
        data_root=out_dir,
        classes=TOY_CLASSES,
        palette=TOY_PALETTE,
        num_train=num_train,
        num_val=num_val,
        split_files=split_files,
        cls_labels=cls_labels,
        img_labels=img_labels)
