"""Seeds with a ratio of them replaced by ground-truth masks (CIAN Table 4).

Picks ``round(ratio * N)`` of the ``N`` images of ``--split`` with a
generator seeded by ``--seed`` and writes every label of the split to
OUT_DIR: the image's mask from ``--gt-dir`` for a picked image, its seed
from SEEDS_DIR otherwise. The picks are the first ones of a seeded
permutation, so with one ``--seed`` the ids of a smaller ratio are among
those of a larger one. Example (Table 4's 5 % row on SynthVOC)::

    python tools/substitute_gt_labels.py \\
        work_dirs/cian_seeds/synthvoc work_dirs/cian_seeds/synthvoc_gt5 \\
        --ratio 0.05 --seed 0 --data-root ../shared/data/synthvoc

SEEDS_DIR must be a complete label folder (a ``meta.json`` marked complete,
as ``tools/make_pseudo_labels.py`` writes it) with a label for every id of
the split. OUT_DIR gets a ``meta.json`` whose identity holds the seeds'
identity, the ratio, the seed and the picked ids: the same request reuses
the folder, and a folder holding labels of another request is refused
unless ``--overwrite``.
"""
import argparse
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from mmseg_wsss.pseudo_labels import prepare_label_dir, read_meta, update_meta
from mmseg_wsss.pseudo_labels.meta import META_FILE, normalize
from mmseg_wsss.utils.io import read_id_list, read_label_map, save_label_png

LABEL_SUFFIX = '.png'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Replace a ratio of the seeds by ground-truth masks')
    parser.add_argument(
        'seeds_dir', help='complete folder of <id>.png seeds with meta.json')
    parser.add_argument('out_dir', help='folder of the substituted labels')
    parser.add_argument(
        '--ratio',
        type=float,
        required=True,
        help='share of the images that get their mask, in [0, 1]')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the picks (default 0)')
    parser.add_argument('--data-root', required=True, help='dataset root')
    parser.add_argument(
        '--split',
        default='ImageSets/Segmentation/train.txt',
        help='id list, relative to --data-root (or absolute)')
    parser.add_argument(
        '--gt-dir',
        default='SegmentationClass',
        help='ground-truth masks, relative to --data-root (or absolute)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace a folder that holds labels of another request')
    return parser.parse_args(argv)


def pick_ids(ids: Sequence[str], ratio: float, seed: int) -> List[str]:
    """The ids that get their mask.

    Args:
        ids (Sequence[str]): The image ids of the split.
        ratio (float): Share of the ids to pick, in [0, 1].
        seed (int): Seed of the permutation (non-negative).

    Returns:
        list[str]: ``round(ratio * len(ids))`` ids in split order: the first
        ones of a permutation drawn with ``seed``, so with one seed a smaller
        ratio picks a subset of a larger one's ids.
    """
    if not 0 <= ratio <= 1:
        raise ValueError(f'--ratio must lie in [0, 1], got {ratio}')
    if seed < 0:
        raise ValueError(f'--seed must be non-negative, got {seed}')
    order = np.random.default_rng(seed).permutation(len(ids))
    picked = sorted(order[:round(ratio * len(ids))].tolist())
    return [ids[i] for i in picked]


def missing_files(folder: str, ids: Sequence[str]) -> List[str]:
    """The ``<id>.png`` files of ``folder`` that do not exist."""
    paths = [osp.join(folder, img_id + LABEL_SUFFIX) for img_id in ids]
    return [path for path in paths if not osp.isfile(path)]


def check_seeds(seeds_dir: str, ids: Sequence[str]) -> dict:
    """The identity of a complete seed folder holding every id's label.

    Raises:
        FileNotFoundError: No ``meta.json`` or a seed of the split missing
            (names the files).
        ValueError: The meta is not marked complete or has no identity.
    """
    meta_file = osp.join(seeds_dir, META_FILE)
    meta = read_meta(seeds_dir)
    if meta is None:
        raise FileNotFoundError(
            f'{meta_file} not found: SEEDS_DIR must be a label folder with '
            'the meta.json saying what made it (e.g. written by '
            'tools/make_pseudo_labels.py)')
    if not meta.get('identity'):
        raise ValueError(f"{meta_file} has no 'identity': it does not say "
                         'what made the seeds')
    if not meta.get('complete'):
        raise ValueError(
            f'{meta_file} is not marked complete: the seeds were '
            'interrupted; finish them (re-run the command that made them) '
            'first')
    missing = missing_files(seeds_dir, ids)
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of the {len(ids)} seeds of the split are '
            f'missing in {seeds_dir}, e.g. {missing[:3]}')
    return meta['identity']


def substitute(seed_path: str, gt_path: Optional[str]) -> np.ndarray:
    """The seed, or the mask when ``gt_path`` is given (of the seed's
    size)."""
    seed = read_label_map(seed_path, 'seed')
    if gt_path is None:
        return seed
    gt = read_label_map(gt_path, 'ground-truth mask')
    if gt.shape != seed.shape:
        raise ValueError(f'ground-truth mask {gt_path} is {gt.shape}, its '
                         f'seed {seed_path} is {seed.shape}; expected the '
                         'same size')
    return gt


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Write the labels; returns ``out_dir`` and the picked ``gt_ids``."""
    args = parse_args(argv)
    if not 0 <= args.ratio <= 1:  # before any file is read
        raise ValueError(f'--ratio must lie in [0, 1], got {args.ratio}')
    split = osp.join(args.data_root, args.split)
    gt_dir = osp.join(args.data_root, args.gt_dir)
    ids = read_id_list(split)
    gt_ids = pick_ids(ids, args.ratio, args.seed)
    if osp.realpath(args.out_dir) == osp.realpath(args.seeds_dir):
        raise ValueError(f'OUT_DIR {args.out_dir} is SEEDS_DIR; write the '
                         'substituted labels to another folder')
    source = check_seeds(args.seeds_dir, ids)
    missing = missing_files(gt_dir, gt_ids)
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of the {len(gt_ids)} picked ground-truth masks '
            f'are missing, e.g. {missing[:3]}')

    identity = normalize(
        dict(
            source=source,
            gt_substitution=dict(
                ratio=args.ratio,
                seed=args.seed,
                gt_ids=gt_ids,
                split=osp.abspath(split),
                gt_dir=osp.abspath(gt_dir))))
    if prepare_label_dir(args.out_dir, identity,
                         'overwrite' if args.overwrite else 'raise'):
        print_log(
            f'{args.out_dir} already holds these labels: reused',
            logger='current')
        return dict(out_dir=args.out_dir, gt_ids=gt_ids)
    picked = set(gt_ids)
    progress = ProgressBar(len(ids))
    for img_id in ids:
        gt_path = osp.join(gt_dir, img_id + LABEL_SUFFIX)
        label = substitute(
            osp.join(args.seeds_dir, img_id + LABEL_SUFFIX),
            gt_path if img_id in picked else None)
        save_label_png(label, osp.join(args.out_dir, img_id + LABEL_SUFFIX))
        progress.update()
    update_meta(
        args.out_dir,
        complete=True,
        info=normalize(
            dict(
                seeds_dir=osp.abspath(args.seeds_dir),
                num_images=len(ids),
                num_gt=len(gt_ids))))
    print_log(
        f'{len(gt_ids)} of {len(ids)} labels are ground-truth masks '
        f'(ratio {args.ratio}, seed {args.seed}), the rest seeds of '
        f'{args.seeds_dir} -> {args.out_dir}',
        logger='current')
    return dict(out_dir=args.out_dir, gt_ids=gt_ids)


if __name__ == '__main__':
    main()
