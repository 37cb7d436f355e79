"""COCO 2014 instances to 81-class label maps for weakly supervised training.

Usage: ``python tools/dataset_converters/coco2014.py COCO_PATH OUT_DIR``
with ``COCO_PATH`` holding ``annotations/instances_{train,val}2014.json`` and
``{train,val}2014/*.jpg``. Writes into ``OUT_DIR``:

- ``images/{train,val}2014/<id>.jpg``: copies, or symlinks with ``--link``;
- ``mask/{train,val}2014/<id>.png``: VOC-palette label maps; 0 background,
  1..80 the categories in the order of their sorted COCO ids, 255 crowd
  regions (where no instance lies);
- ``{train,val}.txt`` and ``cls_labels.json`` (``{id: [sorted classes]}``,
  derived from the masks), ids being the image file stems
  (``COCO_train2014_000000000009``).

Instances are painted largest first, so a small object on a large one stays
visible. Images without annotations, or whose annotations leave no foreground
pixel, are skipped and listed in the log. Masks are rasterised by pycocotools
when installed; otherwise polygons go through ``cv2.fillPoly`` (every pixel
an edge touches is included, so a mask can be one pixel wider than
pycocotools') and uncompressed RLE is decoded here (compressed RLE then needs
pycocotools).
"""
import argparse
import json
import logging
import os
import os.path as osp
import shutil
from collections import defaultdict
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np
from mmengine.logging import print_log
from mmengine.utils import (mkdir_or_exist, track_parallel_progress,
                            track_progress)

from mmseg_wsss.structures import IGNORE_INDEX
from mmseg_wsss.utils.io import atomic_write, save_label_png

try:
    from pycocotools import mask as mask_utils
except ImportError:
    mask_utils = None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert COCO 2014 instances to WSSS label maps')
    parser.add_argument(
        'coco_path', help='folder with annotations/ and {train,val}2014/')
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'val'],
        choices=['train', 'val'],
        help='splits to convert')
    parser.add_argument(
        '--link',
        action='store_true',
        help='symlink the images instead of copying them')
    parser.add_argument(
        '--nproc', default=1, type=int, help='number of processes')
    return parser.parse_args(argv)


def polygon_mask(polygons: List[List[float]], height: int,
                 width: int) -> np.ndarray:
    """Rasterise COCO polygons ``[[x1, y1, x2, y2, ...], ...]``.

    Returns:
        np.ndarray: ``H x W`` bool mask, the union of the polygons.
    """
    mask = np.zeros((height, width), np.uint8)
    shift = 3  # sub-pixel vertices; COCO puts pixel centres at +0.5
    pts = [
        np.round((np.asarray(p, np.float64).reshape(-1, 2) - 0.5) *
                 (1 << shift)).astype(np.int32) for p in polygons
        if len(p) >= 6
    ]
    if pts:
        cv2.fillPoly(mask, pts, 1, shift=shift)
    return mask.astype(bool)


def rle_mask(rle: dict, height: int, width: int) -> np.ndarray:
    """Decode an uncompressed COCO RLE (``counts`` a list, column-major,
    starting with a run of zeros).

    Returns:
        np.ndarray: ``H x W`` bool mask.
    """
    counts = np.asarray(rle['counts'], np.int64)
    if list(rle.get('size', [])) != [height, width]:
        raise ValueError(f'RLE size {rle.get("size")} does not match the '
                         f'image size {[height, width]}')
    if counts.sum() != height * width or (counts < 0).any():
        raise ValueError(f'RLE counts sum to {counts.sum()}, expected '
                         f'{height} * {width} = {height * width}')
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((height, width), order='F')


def ann_mask(seg: Union[list, dict], height: int, width: int) -> np.ndarray:
    """``H x W`` bool mask of one annotation's ``segmentation`` field."""
    if mask_utils is not None:
        if isinstance(seg, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
        elif isinstance(seg['counts'], list):
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            rle = seg
        return mask_utils.decode(rle).astype(bool)
    if isinstance(seg, list):
        return polygon_mask(seg, height, width)
    if isinstance(seg.get('counts'), list):
        return rle_mask(seg, height, width)
    raise ImportError('compressed RLE segmentation needs pycocotools '
                      '(pip install pycocotools)')


def label_map(img_info: dict, anns: List[dict],
              cat_to_label: Dict[int, int]) -> np.ndarray:
    """The ``H x W`` uint8 label map of one image.

    Instances are painted by decreasing area; crowd regions become 255 where
    no instance lies.
    """
    height, width = img_info['height'], img_info['width']
    label = np.zeros((height, width), np.uint8)
    crowd = np.zeros((height, width), bool)
    for ann in sorted(anns, key=lambda a: -a.get('area', 0)):
        try:
            mask = ann_mask(ann['segmentation'], height, width)
        except (ValueError, KeyError) as e:
            raise ValueError(f'{img_info["file_name"]}, annotation '
                             f'{ann.get("id")}: {e}') from e
        if ann.get('iscrowd', 0):
            crowd |= mask
        else:
            label[mask] = cat_to_label[ann['category_id']]
    label[crowd & (label == 0)] = IGNORE_INDEX
    return label


def convert_image(task: Tuple[dict, List[dict]], cat_to_label: Dict[int, int],
                  img_dir: str, out_img_dir: str, out_mask_dir: str,
                  link: bool) -> Tuple[str, List[int]]:
    """Write one image's label map and copy (or link) the image.

    Returns:
        tuple: the id (file stem) and its sorted foreground classes; an empty
        list means nothing was written.
    """
    img_info, anns = task
    stem = osp.splitext(img_info['file_name'])[0]
    label = label_map(img_info, anns, cat_to_label)
    classes = [int(c) for c in np.unique(label) if 0 < c < IGNORE_INDEX]
    if not classes:
        return stem, classes
    src = osp.join(img_dir, img_info['file_name'])
    if not osp.isfile(src):
        raise FileNotFoundError(f'image not found: {src}')
    dst = osp.join(out_img_dir, f'{stem}.jpg')
    if osp.lexists(dst):
        os.remove(dst)
    if link:
        os.symlink(osp.abspath(src), dst)
    else:
        shutil.copyfile(src, dst)
    save_label_png(label, osp.join(out_mask_dir, f'{stem}.png'))
    return stem, classes


def load_instances(
    path: str
) -> Tuple[Dict[int, int], List[Tuple[dict, List[dict]]], List[str]]:
    """Read an instances JSON.

    Returns:
        tuple: ``{category id: class 1..C-1}`` (sorted category ids), the
        ``(image info, annotations)`` pairs of annotated images, and the file
        names of images without annotations.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'instances file not found: {path}')
    with open(path) as f:
        coco = json.load(f)
    cat_ids = sorted(c['id'] for c in coco['categories'])
    cat_to_label = {cat_id: i + 1 for i, cat_id in enumerate(cat_ids)}
    if len(cat_to_label) >= IGNORE_INDEX:
        raise ValueError(f'{path}: {len(cat_to_label)} categories do not fit '
                         f'in labels 1..{IGNORE_INDEX - 1}')
    img_ids = {img['id'] for img in coco['images']}
    anns_by_image = defaultdict(list)
    for ann in coco['annotations']:
        if ann['category_id'] not in cat_to_label:
            raise ValueError(f'{path}: annotation {ann.get("id")} has '
                             f'category_id {ann["category_id"]}, expected '
                             f'one of the categories {cat_ids}')
        if ann['image_id'] not in img_ids:
            raise ValueError(f'{path}: annotation {ann.get("id")} refers to '
                             f'image_id {ann["image_id"]}, not in images')
        anns_by_image[ann['image_id']].append(ann)
    images = sorted(coco['images'], key=lambda img: img['file_name'])
    tasks = [(img, anns_by_image[img['id']]) for img in images
             if img['id'] in anns_by_image]
    unannotated = [
        img['file_name'] for img in images if img['id'] not in anns_by_image
    ]
    return cat_to_label, tasks, unannotated


def run_tasks(func: Callable, tasks: list, nproc: int) -> list:
    """Apply ``func`` to each task, in ``nproc`` processes if more than 1."""
    if not tasks:
        return []
    if nproc > 1:
        return track_parallel_progress(func, tasks, nproc)
    return track_progress(func, tasks)


def main(argv: Optional[List[str]] = None) -> Dict[str, List[int]]:
    """Convert; returns the labels written (``{id: [classes]}``)."""
    args = parse_args(argv)
    labels: Dict[str, List[int]] = {}
    for split in args.splits:
        name = f'{split}2014'
        cat_to_label, tasks, unannotated = load_instances(
            osp.join(args.coco_path, 'annotations', f'instances_{name}.json'))
        out_img_dir = osp.join(args.out_dir, 'images', name)
        out_mask_dir = osp.join(args.out_dir, 'mask', name)
        mkdir_or_exist(out_img_dir)
        mkdir_or_exist(out_mask_dir)
        results = run_tasks(
            partial(
                convert_image,
                cat_to_label=cat_to_label,
                img_dir=osp.join(args.coco_path, name),
                out_img_dir=out_img_dir,
                out_mask_dir=out_mask_dir,
                link=args.link), tasks, args.nproc)
        ids = [stem for stem, classes in results if classes]
        no_fg = [stem for stem, classes in results if not classes]
        labels.update((stem, classes) for stem, classes in results if classes)
        with atomic_write(osp.join(args.out_dir, f'{split}.txt'), 'w') as f:
            f.writelines(f'{img_id}\n' for img_id in ids)
        if unannotated or no_fg:
            print_log(
                f'{name}: skipped {len(unannotated)} images without '
                f'annotations {unannotated[:10]} and {len(no_fg)} whose '
                f'annotations leave no foreground pixel {no_fg[:10]}',
                logger='current',
                level=logging.WARNING)
        print_log(
            f'{name}: {len(ids)} images, {len(cat_to_label)} categories',
            logger='current')
    labels_file = osp.join(args.out_dir, 'cls_labels.json')
    if osp.isfile(labels_file):
        with open(labels_file) as f:
            labels = {**json.load(f), **labels}
    with atomic_write(labels_file, 'w') as f:
        json.dump(dict(sorted(labels.items())), f)
    return labels


if __name__ == '__main__':
    main()
