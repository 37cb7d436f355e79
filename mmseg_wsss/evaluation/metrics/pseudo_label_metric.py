"""Precision / recall / IoU of pseudo labels that may leave pixels unlabelled.

Scores are mmseg's: per-class areas from ``IoUMetric.intersect_and_union``,
per-class IoU / precision / recall from ``IoUMetric.total_area_to_metrics``
and class means with ``np.nanmean`` as in ``IoUMetric.compute_metrics``, so
a class absent from both prediction and ground truth is skipped and a class
predicted but absent from the ground truth counts 0 in mIoU. One array of
areas (:func:`label_areas`, ``5 x C``) serves this metric, the CAM metric
and ``tools/eval_pseudo_labels.py``; its rows are :data:`AREA_KEYS`. A pixel
the pseudo label leaves at ``ignore_index`` ("predicted nothing") lowers the
recall and IoU of its GT class, never a precision, and is counted in row
``unlabelled``.
"""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.utils import track_iter_progress
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from mmseg_wsss.utils.io import read_label_map

AREA_KEYS = ('intersect', 'union', 'pred_label', 'label', 'unlabelled')


def _check_values(arr: np.ndarray, num_classes: int, ignore_index: int,
                  what: str) -> None:
    bad = (arr < 0) | ((arr >= num_classes) & (arr != ignore_index))
    if bad.any():
        raise ValueError(f'{what} holds value {arr[bad][0]}; expected '
                         f'0..{num_classes - 1} or {ignore_index}')


def label_areas(pred: np.ndarray,
                gt: np.ndarray,
                num_classes: int,
                ignore_index: int = 255) -> np.ndarray:
    """Per-class pixel areas of a label map against the ground truth.

    Args:
        pred (np.ndarray): ``H x W`` integer label map; ``ignore_index``
            means "no label".
        gt (np.ndarray): ``H x W`` integer ground truth; ``ignore_index``
            pixels are not counted.
        num_classes (int): C, background included.
        ignore_index (int): The ignore value of both maps.

    Returns:
        np.ndarray: ``5 x C`` float64 areas, rows :data:`AREA_KEYS`: those of
        ``IoUMetric.intersect_and_union``, then the GT pixels per class that
        ``pred`` leaves at ``ignore_index``.

    Raises:
        ValueError: The shapes differ or a value is neither a class nor
            ``ignore_index``.
    """
    pred = np.asarray(pred).astype(np.int64)
    gt = np.asarray(gt).astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} does not match '
                         f'ground-truth shape {gt.shape}')
    _check_values(gt, num_classes, ignore_index, 'ground truth')
    _check_values(pred, num_classes, ignore_index, 'prediction')
    areas = IoUMetric.intersect_and_union(
        torch.from_numpy(pred), torch.from_numpy(gt), num_classes,
        ignore_index)
    unlabelled = np.bincount(
        gt[(pred == ignore_index) & (gt != ignore_index)],
        minlength=num_classes)
    return np.stack([a.numpy() for a in areas] + [unlabelled]).astype(
        np.float64)


def class_scores(areas: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class IoU, precision and recall (fractions, NaN if undefined).

    Args:
        areas (np.ndarray): ``(..., 5, C)`` areas of :func:`label_areas`.

    Returns:
        dict: ``IoU``, ``Precision`` and ``Recall``, each ``(..., C)``, from
        ``IoUMetric.total_area_to_metrics``.
    """
    areas = np.asarray(areas, dtype=np.float64)
    flat = areas.reshape(-1, *areas.shape[-2:])
    keys = ('IoU', 'Precision', 'Recall')
    scores = {key: np.empty((len(flat), flat.shape[-1])) for key in keys}
    for i, (intersect, union, pred, label, _) in enumerate(flat):
        metrics = IoUMetric.total_area_to_metrics(
            *(torch.from_numpy(a) for a in (intersect, union, pred, label)),
            metrics=['mIoU', 'mFscore'])
        for key in keys:
            scores[key][i] = metrics[key]
    shape = areas.shape[:-2] + areas.shape[-1:]
    return {key: value.reshape(shape) for key, value in scores.items()}


def summarize(areas: np.ndarray) -> Dict[str, np.ndarray]:
    """Class means in percent, as ``IoUMetric`` reports them.

    Args:
        areas (np.ndarray): ``(..., 5, C)`` areas of :func:`label_areas`.

    Returns:
        dict: ``mIoU``, ``mPrecision``, ``mRecall`` (``np.nanmean`` over
        classes) and ``ignored_ratio`` (% of GT-valid pixels the prediction
        leaves unlabelled), each of shape ``(...)``, rounded to 2 decimals.
    """
    areas = np.asarray(areas, dtype=np.float64)
    means = {}
    with warnings.catch_warnings(), np.errstate(invalid='ignore'):
        # no GT pixel at all: NaN, as IoUMetric gives
        warnings.simplefilter('ignore', RuntimeWarning)
        for key, value in class_scores(areas).items():
            means['m' + key] = np.round(np.nanmean(value, -1) * 100, 2)
        ignored = areas[..., 4, :].sum(-1) / areas[..., 3, :].sum(-1)
    means['ignored_ratio'] = np.round(ignored * 100, 2)
    return means


def class_table(areas: np.ndarray,
                class_names: Sequence[str]) -> PrettyTable:
    """Per-class table (percent) in the style of mmseg's ``IoUMetric``.

    Args:
        areas (np.ndarray): ``5 x C`` areas of :func:`label_areas`.
        class_names (Sequence[str]): C names.
    """
    table = PrettyTable()
    table.add_column('Class', list(class_names))
    for key, value in class_scores(areas).items():
        table.add_column(key, np.round(value * 100, 2).tolist())
    table.add_column('GT pixels', areas[3].astype(int).tolist())
    return table


def label_dir_stats(pred_dir: str,
                    gt_dir: str,
                    ids: Sequence[str],
                    num_classes: int,
                    ignore_index: int = 255,
                    suffix: str = '.png',
                    progress: bool = False) -> np.ndarray:
    """Accumulate :func:`label_areas` over label PNGs on disk.

    Args:
        pred_dir (str): Directory of predicted ``<id><suffix>`` label maps.
        gt_dir (str): Directory of ground-truth ``<id><suffix>`` masks.
        ids (Sequence[str]): Image ids to score.
        num_classes (int): C, background included.
        ignore_index (int): Ignore value of both maps.
        suffix (str): File name suffix of both maps.
        progress (bool): Show a progress bar.

    Returns:
        np.ndarray: ``5 x C`` summed areas.

    Raises:
        FileNotFoundError: Label files are missing (named).
        ValueError: A pair of maps is invalid (named).
    """
    pairs = [(osp.join(pred_dir, i + suffix), osp.join(gt_dir, i + suffix))
             for i in ids]
    missing = [p for pair in pairs for p in pair if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} label file(s) missing, e.g. '
            f'{", ".join(missing[:5])}')
    total = np.zeros((len(AREA_KEYS), num_classes))
    for pred_path, gt_path in (track_iter_progress(pairs)
                               if progress else pairs):
        try:
            total += label_areas(
                read_label_map(pred_path, 'label map'),
                read_label_map(gt_path, 'ground truth'), num_classes,
                ignore_index)
        except ValueError as e:
            raise ValueError(f'{pred_path} vs {gt_path}: {e}') from e
    return total


def get_class_names(dataset_meta: Optional[dict],
                    num_classes: Optional[int]) -> List[str]:
    """Class names from the dataset meta, or indices as names."""
    names = (dataset_meta or {}).get('classes')
    if names is not None:
        if num_classes is not None and len(names) != num_classes:
            raise ValueError(f'dataset_meta has {len(names)} classes but '
                             f'num_classes={num_classes}')
        return list(names)
    if num_classes is None:
        raise ValueError('num_classes is needed when the dataset meta has '
                         'no `classes`')
    return [str(i) for i in range(num_classes)]


@METRICS.register_module()
class PseudoLabelMetric(BaseMetric):
    """Quality of pseudo labels: IoU, precision and recall per class.

    Reads ``pred_sem_seg`` (the pseudo label, 255 = unlabelled) and
    ``gt_sem_seg`` of each data sample, like ``IoUMetric``, whose definition
    of the class means it shares.

    Args:
        num_classes (int, optional): C; defaults to the dataset classes.
        ignore_index (int): Ignore value of labels and GT. Default: 255.
        collect_device (str): Device for collecting results across ranks.
        prefix (str, optional): Prefix of the metric names.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store the areas of each data sample."""
        num_classes = len(get_class_names(self.dataset_meta, self.num_classes))
        for data_sample in data_samples:
            pred = data_sample['pred_sem_seg']['data'].squeeze().cpu().numpy()
            gt = data_sample['gt_sem_seg']['data'].squeeze().cpu().numpy()
            self.results.append(
                label_areas(pred, gt, num_classes, self.ignore_index))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the areas, log the per-class table, return the means.

        Returns:
            dict: ``mIoU``, ``mPrecision``, ``mRecall`` and
            ``ignored_ratio`` in percent.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        areas = np.sum(results, axis=0)
        names = get_class_names(self.dataset_meta, self.num_classes)
        print_log('per class results:', logger)
        print_log('\n' + class_table(areas, names).get_string(), logger=logger)
        return {k: float(v) for k, v in summarize(areas).items()}
