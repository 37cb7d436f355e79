"""Time building a VOC train_aug-sized WSSSVOCDataset (10,582 ids).

Usage: ``python bench/dataset_build.py [--num-ids 10582] [--repeat 3]
[--derive-labels]``.

A few toy samples (``make_toy_dataset``) are linked under distinct ids in a
temporary VOC-layout folder with a ``cls_labels.json``; the dataset is built
with every build-time check on (files present, labels, saliency sizes, which
opens two image headers per id). ``--derive-labels`` times labels derived
from the masks instead of read from the label file. The file system cache is
warm after the first build; a cold disk adds its reads.
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time
from typing import List, Optional

from mmengine.logging import print_log

from mmseg_wsss.datasets import WSSSVOCDataset, make_toy_dataset

SUBDIRS = {'JPEGImages': '.jpg', 'SegmentationClass': '.png',
           'SaliencyMaps': '.png'}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time WSSSVOCDataset construction')
    parser.add_argument('--num-ids', type=int, default=10582)
    parser.add_argument('--num-sources', type=int, default=8,
                        help='distinct toy samples the ids link to')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--derive-labels', action='store_true',
                        help='img_labels_file=None (labels from the masks)')
    return parser.parse_args(argv)


def write_linked_set(root: str, num_ids: int, num_sources: int) -> None:
    """``num_ids`` ids linking to ``num_sources`` toy samples."""
    src = make_toy_dataset(
        osp.join(root, 'src'), num_train=num_sources, num_val=0, size=128)
    sources = [f'train_{i:05d}' for i in range(num_sources)]
    for sub in SUBDIRS:
        os.makedirs(osp.join(root, sub))
    os.makedirs(osp.join(root, 'ImageSets', 'Segmentation'))
    ids = [f'2008_{i:06d}' for i in range(num_ids)]
    labels = {}
    for k, img_id in enumerate(ids):
        source = sources[k % num_sources]
        for sub, suffix in SUBDIRS.items():
            os.symlink(
                osp.join(root, 'src', sub, source + suffix),
                osp.join(root, sub, img_id + suffix))
        labels[img_id] = src['img_labels'][source]
    with open(osp.join(root, 'ImageSets', 'Segmentation', 'train.txt'),
              'w') as f:
        f.writelines(i + '\n' for i in ids)
    with open(osp.join(root, 'cls_labels.json'), 'w') as f:
        json.dump(labels, f)


def main(argv: Optional[List[str]] = None) -> List[float]:
    """Build the dataset ``--repeat`` times.

    Returns:
        list[float]: Seconds per build.
    """
    args = parse_args(argv)
    seconds = []
    with tempfile.TemporaryDirectory() as root:
        write_linked_set(root, args.num_ids, args.num_sources)
        for _ in range(args.repeat):
            start = time.perf_counter()
            dataset = WSSSVOCDataset(
                data_root=root,
                img_labels_file=None if args.derive_labels else
                'cls_labels.json',
                saliency_dir='SaliencyMaps',
                metainfo=dict(classes=('background', 'disc', 'square',
                                       'triangle', 'ring')))
            seconds.append(time.perf_counter() - start)
            assert len(dataset) == args.num_ids
    print_log(
        f'WSSSVOCDataset with {args.num_ids} ids, saliency checks on, labels '
        f'{"derived from masks" if args.derive_labels else "from JSON"}: '
        f'{", ".join(f"{s:.2f}" for s in seconds)} s '
        f'(best {min(seconds):.2f} s)',
        logger='current')
    return seconds


if __name__ == '__main__':
    main()
