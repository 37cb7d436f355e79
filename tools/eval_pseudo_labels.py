"""Score pseudo labels (or CAMs) on disk against ground-truth masks.

Label PNGs (255 = unlabelled) get per-class precision / recall / IoU and the
share of unlabelled pixels, with the code of ``PseudoLabelMetric`` (class
means as mmseg's ``IoUMetric`` takes them); ``--cam``
scores ``<id>.npy`` CAMs (``(C-1) x H x W`` in [0, 1]) over a sweep of
background thresholds, with the code of ``CAMMetric``.

Example::

    python tools/eval_pseudo_labels.py work_dirs/x/pseudo_labels/cam/stage_0 \\
        --data-root ../shared/data/synthvoc --out scores.json
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from mmseg_wsss.evaluation.metrics import (cam_dir_stats, class_scores,
                                           class_table, label_dir_stats,
                                           summarize)
from mmseg_wsss.evaluation.metrics.cam_metric import (check_thresholds,
                                                      curve_table)
from mmseg_wsss.utils.io import read_id_list


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Precision / recall / mIoU of pseudo labels or CAMs')
    parser.add_argument(
        'pred_dir', help='directory of <id>.png label maps (<id>.npy CAMs '
        'with --cam)')
    parser.add_argument('--data-root', required=True, help='dataset root')
    parser.add_argument(
        '--split',
        default='ImageSets/Segmentation/train.txt',
        help='id list, relative to --data-root (or absolute)')
    parser.add_argument(
        '--gt-dir',
        default='SegmentationClass',
        help='ground-truth masks, relative to --data-root (or absolute)')
    parser.add_argument('--num-classes', type=int, default=21)
    parser.add_argument('--ignore-index', type=int, default=255)
    parser.add_argument(
        '--cam', action='store_true', help='score CAMs over thresholds')
    parser.add_argument(
        '--thresholds',
        type=float,
        nargs='+',
        help='background thresholds for --cam (default 0.05..0.95)')
    parser.add_argument('--out', help='write the scores to this json file')
    return parser.parse_args(argv)




def class_names(num_classes: int) -> List[str]:
    """VOC class names for 21 classes, else the indices."""
    # imported here: mmseg.datasets needs the compat set-up of mmseg_wsss
    from mmseg.datasets import PascalVOCDataset
    voc = PascalVOCDataset.METAINFO['classes']
    if num_classes == len(voc):
        return list(voc)
    return [str(i) for i in range(num_classes)]


def _per_class(areas: np.ndarray, names: Sequence[str]) -> Dict[str, dict]:
    scores = class_scores(areas)
    return {
        name: {
            k: (None if np.isnan(v[i]) else round(float(v[i]) * 100, 2))
            for k, v in scores.items()
        }
        for i, name in enumerate(names)
    }


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the evaluation; returns what ``--out`` writes."""
    args = parse_args(argv)
    ids = read_id_list(osp.join(args.data_root, args.split))
    gt_dir = osp.join(args.data_root, args.gt_dir)
    names = class_names(args.num_classes)
    if args.cam:
        thresholds = check_thresholds(args.thresholds)
        sweep = cam_dir_stats(
            args.pred_dir,
            gt_dir,
            ids,
            thresholds,
            args.ignore_index,
            progress=True)
        if sweep.shape[-1] != args.num_classes:
            raise ValueError(f'{args.pred_dir}: CAMs have '
                             f'{sweep.shape[-1] - 1} foreground channels, '
                             f'expected {args.num_classes - 1}')
        print_log('\n' + curve_table(sweep, thresholds).get_string(),
                  logger='current')
        best = int(np.nanargmax(summarize(sweep)['mIoU']))
        areas = sweep[best]
    else:
        areas = label_dir_stats(
            args.pred_dir,
            gt_dir,
            ids,
            args.num_classes,
            args.ignore_index,
            progress=True)
    means = {k: float(v) for k, v in summarize(areas).items()}
    print_log('\n' + class_table(areas, names).get_string(), logger='current')
    result = dict(pred_dir=args.pred_dir, num_images=len(ids), **means)
    if args.cam:
        result['best_thr'] = round(float(thresholds[best]), 2)
    print_log(
        ', '.join(f'{k}: {v}' for k, v in result.items() if k != 'pred_dir'),
        logger='current')
    result['per_class'] = _per_class(areas, names)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
