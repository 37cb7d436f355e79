"""PASCAL VOC 2012 + SBD ("VOC aug") for weakly supervised segmentation.

Usage: ``python tools/dataset_converters/voc_aug.py DEVKIT_PATH AUG_PATH``
with ``DEVKIT_PATH`` the folder holding ``VOC2012/`` and ``AUG_PATH`` SBD's
``benchmark_RELEASE`` (``dataset/cls/*.mat``, ``dataset/{train,val}.txt``).

Writes into ``DEVKIT_PATH/VOC2012``:

- ``SegmentationClassAug/<id>.png``: VOC-palette label maps. SBD's masks,
  except that VOC's own ``SegmentationClass`` annotation wins for every id it
  covers (as in mmseg's ``voc_aug.py``);
- ``ImageSets/Segmentation/train_aug.txt``: SBD train + val + VOC train,
  minus VOC val (10,582 ids for the full sets), and ``aug.txt``: the SBD ids
  in neither VOC train nor VOC val;
- ``cls_labels.json``: ``{id: [sorted foreground classes 1..20]}`` for every
  id with a mask, derived from the masks written above.
"""
import argparse
import json
import logging
import os.path as osp
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from mmengine import list_from_file
from mmengine.logging import print_log
from mmengine.utils import (mkdir_or_exist, scandir, track_parallel_progress,
                            track_progress)
from scipy.io import loadmat

from mmseg_wsss.utils.io import atomic_write, read_label_map, save_label_png

NUM_CLASSES = 21
AUG_LEN = 10582
VOC_VAL_LEN = 1449


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert PASCAL VOC 2012 + SBD annotations for WSSS')
    parser.add_argument('devkit_path', help='folder holding VOC2012/')
    parser.add_argument('aug_path', help='SBD benchmark_RELEASE folder')
    parser.add_argument(
        '-o',
        '--out-dir',
        help='mask folder (default DEVKIT_PATH/VOC2012/SegmentationClassAug)')
    parser.add_argument(
        '--nproc', default=1, type=int, help='number of processes')
    return parser.parse_args(argv)


def check_label(label: np.ndarray, path: str) -> np.ndarray:
    """Validate a VOC label map and return it as uint8.

    Args:
        label (np.ndarray): ``H x W`` map; 0..20 classes, 255 ignore.
        path (str): The file it came from, for error messages.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'{path}: expected an H x W label map, got shape '
                         f'{label.shape}')
    values = np.unique(label)
    bad = values[((values >= NUM_CLASSES) & (values != 255)) | (values < 0)
                 | (values != np.round(values))]
    if bad.size:
        raise ValueError(f'{path}: label values {bad.tolist()} found; '
                         f'expected integers 0..{NUM_CLASSES - 1} or 255')
    return label.astype(np.uint8)


def fg_classes(label: np.ndarray) -> List[int]:
    """Sorted foreground classes present in an ``H x W`` label map."""
    return [int(c) for c in np.unique(label) if 0 < c < 255]


def convert_mat(mat_file: str, in_dir: str,
                out_dir: str) -> Tuple[str, List[int]]:
    """Write one SBD ``GTcls`` mask as a palette PNG.

    Returns:
        tuple: the image id and its foreground classes.
    """
    path = osp.join(in_dir, mat_file)
    data = loadmat(
        path, mat_dtype=True, squeeze_me=True, struct_as_record=False)
    if 'GTcls' not in data or not hasattr(data['GTcls'], 'Segmentation'):
        raise KeyError(f'{path}: no GTcls.Segmentation struct field (is this '
                       f'an SBD dataset/cls file?)')
    label = check_label(data['GTcls'].Segmentation, path)
    img_id = osp.splitext(mat_file)[0]
    save_label_png(label, osp.join(out_dir, f'{img_id}.png'))
    return img_id, fg_classes(label)


def copy_voc_png(png_file: str, in_dir: str,
                 out_dir: str) -> Tuple[str, List[int]]:
    """Copy one VOC ``SegmentationClass`` label map (validated).

    Returns:
        tuple: the image id and its foreground classes.
    """
    path = osp.join(in_dir, png_file)
    label = check_label(read_label_map(path, 'VOC mask'), path)
    img_id = osp.splitext(png_file)[0]
    save_label_png(label, osp.join(out_dir, f'{img_id}.png'))
    return img_id, fg_classes(label)


def read_ids(path: str) -> List[str]:
    """Ids listed one a line in ``path`` (blank lines skipped)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'split file not found: {path}')
    return [line.strip() for line in list_from_file(path) if line.strip()]


def write_ids(ids: Sequence[str], path: str) -> None:
    """Write ``ids`` one a line, atomically."""
    with atomic_write(path, 'w') as f:
        f.writelines(f'{img_id}\n' for img_id in ids)


def run_tasks(func: Callable, tasks: list, nproc: int) -> list:
    """Apply ``func`` to each task, in ``nproc`` processes if more than 1."""
    if not tasks:
        return []
    if nproc > 1:
        return track_parallel_progress(func, tasks, nproc)
    return track_progress(func, tasks)


def main(argv: Optional[List[str]] = None) -> dict:
    """Convert; returns ``{'train_aug': ids, 'aug': ids, 'labels': dict}``."""
    args = parse_args(argv)
    voc_root = osp.join(args.devkit_path, 'VOC2012')
    split_dir = osp.join(voc_root, 'ImageSets', 'Segmentation')
    voc_seg_dir = osp.join(voc_root, 'SegmentationClass')
    sbd_dir = osp.join(args.aug_path, 'dataset')
    mat_dir = osp.join(sbd_dir, 'cls')
    out_dir = args.out_dir or osp.join(voc_root, 'SegmentationClassAug')
    for folder in (voc_seg_dir, mat_dir):
        if not osp.isdir(folder):
            raise FileNotFoundError(f'folder not found: {folder}')
    mkdir_or_exist(out_dir)

    voc_pngs = sorted(scandir(voc_seg_dir, suffix='.png'))
    voc_ids = {osp.splitext(f)[0] for f in voc_pngs}
    mats = sorted(
        f for f in scandir(mat_dir, suffix='.mat')
        if osp.splitext(f)[0] not in voc_ids)
    print_log(
        f'{len(mats)} SBD masks to convert, {len(voc_pngs)} VOC masks to '
        f'copy (VOC wins where both exist)',
        logger='current')
    labels = dict(
        run_tasks(
            partial(convert_mat, in_dir=mat_dir, out_dir=out_dir), mats,
            args.nproc))
    labels.update(
        run_tasks(
            partial(copy_voc_png, in_dir=voc_seg_dir, out_dir=out_dir),
            voc_pngs, args.nproc))

    sbd_ids = read_ids(osp.join(sbd_dir, 'train.txt')) + read_ids(
        osp.join(sbd_dir, 'val.txt'))
    voc_train = read_ids(osp.join(split_dir, 'train.txt'))
    voc_val = read_ids(osp.join(split_dir, 'val.txt'))
    train_aug = sorted(set(sbd_ids + voc_train) - set(voc_val))
    aug = sorted(set(sbd_ids) - set(voc_train) - set(voc_val))
    missing = sorted(set(train_aug + voc_val) - set(labels))
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} listed ids have neither a VOC mask in '
            f'{voc_seg_dir} nor an SBD mask in {mat_dir}: {missing[:10]}')
    if len(voc_val) == VOC_VAL_LEN and len(train_aug) != AUG_LEN:
        print_log(
            f'train_aug has {len(train_aug)} ids, expected {AUG_LEN} for the '
            f'full VOC 2012 + SBD sets',
            logger='current',
            level=logging.WARNING)
    write_ids(train_aug, osp.join(split_dir, 'train_aug.txt'))
    write_ids(aug, osp.join(split_dir, 'aug.txt'))

    empty = sorted(img_id for img_id, fg in labels.items() if not fg)
    if empty:
        print_log(
            f'{len(empty)} masks hold no foreground class: {empty[:10]}',
            logger='current',
            level=logging.WARNING)
    labels = dict(sorted(labels.items()))
    with atomic_write(osp.join(voc_root, 'cls_labels.json'), 'w') as f:
        json.dump(labels, f)
    print_log(
        f'{len(train_aug)} train_aug ids, {len(aug)} aug ids, labels for '
        f'{len(labels)} ids written under {voc_root}',
        logger='current')
    return dict(train_aug=train_aug, aug=aug, labels=labels)


if __name__ == '__main__':
    main()
