"""Write the procedural toy WSSS set (``configs/_base_/datasets/toy.py``).

Usage: ``python tools/dataset_converters/make_toy.py [--out data/toy]``.
A folder that already holds a complete set made with the same parameters is
left as it is unless ``--force`` is given.
"""
import argparse
import os.path as osp
import time
from typing import List, Optional

from mmengine.logging import print_log

from mmseg_wsss.datasets.toy import load_toy_meta, make_toy_dataset


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the procedural toy WSSS set in VOC layout')
    parser.add_argument('--out', default='data/toy', help='output folder')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--size', type=int, default=128, help='image side')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-objects', type=int, default=3)
    parser.add_argument(
        '--force',
        action='store_true',
        help='regenerate even if a complete set is already there')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> bool:
    """Write the set unless it is already there.

    Returns:
        bool: True if the set was written, False if it was skipped.
    """
    args = parse_args(argv)
    params = dict(
        num_train=args.num_train,
        num_val=args.num_val,
        size=args.size,
        seed=args.seed,
        max_objects=args.max_objects)
    if not args.force and load_toy_meta(args.out) == params:
        print_log(
            f'{osp.abspath(args.out)} already holds a complete toy set with '
            f'these parameters; skipped (use --force to regenerate)',
            logger='current')
        return False
    start = time.perf_counter()
    make_toy_dataset(args.out, **params)
    print_log(
        f'wrote {args.num_train} train + {args.num_val} val toy images to '
        f'{osp.abspath(args.out)} in {time.perf_counter() - start:.1f} s',
        logger='current')
    return True


if __name__ == '__main__':
    main()
