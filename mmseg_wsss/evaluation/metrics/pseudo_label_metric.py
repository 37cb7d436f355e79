"""Precision / recall / IoU of pseudo labels that may leave pixels unlabelled.

One confusion matrix (``confusion_matrix``) serves this metric, the CAM metric
and ``tools/eval_pseudo_labels.py``. Its shape is ``C x (C + 1)``: rows are
ground-truth classes (GT ``ignore_index`` pixels are dropped), columns are
predicted classes plus a last column for pixels the pseudo label leaves at
``ignore_index`` ("predicted nothing": they lower recall and IoU of their GT
class, never a precision).
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.utils import track_iter_progress
from mmseg.registry import METRICS
from prettytable import PrettyTable

from mmseg_wsss.utils.io import load_label_png


def confusion_matrix(pred: np.ndarray,
                     gt: np.ndarray,
                     num_classes: int,
                     ignore_index: int = 255) -> np.ndarray:
    """Count (GT class, predicted class) pixel pairs with one bincount.

    Args:
        pred (np.ndarray): ``H x W`` integer label map; ``ignore_index``
            means "no label".
        gt (np.ndarray): ``H x W`` integer ground truth; ``ignore_index``
            pixels are not counted.
        num_classes (int): C, background included.
        ignore_index (int): The ignore value of both maps.

    Returns:
        np.ndarray: ``C x (C + 1)`` int64 matrix; column C counts GT pixels
        whose prediction is ``ignore_index``.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} does not match '
                         f'ground-truth shape {gt.shape}')
    valid = gt != ignore_index
    gt = gt[valid].astype(np.int64)
    pred = pred[valid].astype(np.int64)
    if gt.size and (gt.min() < 0 or gt.max() >= num_classes):
        bad = gt[(gt < 0) | (gt >= num_classes)][0]
        raise ValueError(f'ground truth holds value {bad}; expected '
                         f'0..{num_classes - 1} or {ignore_index}')
    pred[pred == ignore_index] = num_classes
    if pred.size and (pred.min() < 0 or pred.max() > num_classes):
        bad = pred[(pred < 0) | (pred > num_classes)][0]
        raise ValueError(f'prediction holds value {bad}; expected '
                         f'0..{num_classes - 1} or {ignore_index}')
    width = num_classes + 1
    return np.bincount(
        gt * width + pred, minlength=num_classes * width).reshape(
            num_classes, width)


def class_scores(hist: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class precision, recall and IoU (fractions, NaN if undefined).

    Args:
        hist (np.ndarray): ``(..., C, C + 1)`` confusion matrices.

    Returns:
        dict: ``Precision``, ``Recall``, ``IoU`` and ``gt_pixels``, each of
        shape ``(..., C)``.
    """
    num_classes = hist.shape[-2]
    hist = hist.astype(np.float64)
    tp = np.diagonal(hist[..., :num_classes], axis1=-2, axis2=-1)
    gt_pixels = hist.sum(-1)
    pred_pixels = hist[..., :num_classes].sum(-2)
    with np.errstate(divide='ignore', invalid='ignore'):
        return dict(
            Precision=tp / pred_pixels,
            Recall=tp / gt_pixels,
            IoU=tp / (gt_pixels + pred_pixels - tp),
            gt_pixels=gt_pixels)


def summarize(hist: np.ndarray) -> Dict[str, np.ndarray]:
    """Class means in percent over the classes present in the ground truth.

    A class present in GT but never predicted has an undefined precision and
    is left out of ``mPrecision`` (it still counts 0 in mRecall and mIoU).

    Args:
        hist (np.ndarray): ``(..., C, C + 1)`` confusion matrices.

    Returns:
        dict: ``mPrecision``, ``mRecall``, ``mIoU`` and ``ignored_ratio``
        (% of GT-valid pixels the prediction leaves unlabelled), each of
        shape ``(...)`` and rounded to 2 decimals.
    """
    scores = class_scores(hist)
    present = scores['gt_pixels'] > 0
    means = {}
    with np.errstate(divide='ignore', invalid='ignore'):
        for key in ('Precision', 'Recall', 'IoU'):
            used = present & ~np.isnan(scores[key])
            mean = np.where(used, scores[key], 0).sum(-1) / used.sum(-1)
            means['m' + key] = np.round(mean * 100, 2)
        ignored = hist[..., -1].sum(-1) / hist.sum((-2, -1))
    means['ignored_ratio'] = np.round(ignored * 100, 2)
    return means


def class_table(hist: np.ndarray, class_names: Sequence[str]) -> PrettyTable:
    """Per-class table (percent) in the style of mmseg's ``IoUMetric``."""
    scores = class_scores(hist)
    table = PrettyTable()
    table.add_column('Class', list(class_names))
    for key in ('IoU', 'Precision', 'Recall'):
        table.add_column(key, np.round(scores[key] * 100, 2).tolist())
    table.add_column('GT pixels', scores['gt_pixels'].astype(int).tolist())
    return table


def label_dir_stats(pred_dir: str,
                    gt_dir: str,
                    ids: Sequence[str],
                    num_classes: int,
                    ignore_index: int = 255,
                    suffix: str = '.png',
                    progress: bool = False) -> np.ndarray:
    """Accumulate :func:`confusion_matrix` over label PNGs on disk.

    Args:
        pred_dir (str): Directory of predicted ``<id><suffix>`` label maps.
        gt_dir (str): Directory of ground-truth ``<id><suffix>`` masks.
        ids (Sequence[str]): Image ids to score.
        num_classes (int): C, background included.
        ignore_index (int): Ignore value of both maps.
        suffix (str): File name suffix of both maps.
        progress (bool): Show a progress bar.

    Returns:
        np.ndarray: ``C x (C + 1)`` summed confusion matrix.
    """
    pairs = [(osp.join(pred_dir, i + suffix), osp.join(gt_dir, i + suffix))
             for i in ids]
    missing = [p for pair in pairs for p in pair if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} label file(s) missing, e.g. '
            f'{", ".join(missing[:5])}')
    hist = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    for pred_path, gt_path in (track_iter_progress(pairs)
                               if progress else pairs):
        try:
            hist += confusion_matrix(
                load_label_png(pred_path), load_label_png(gt_path),
                num_classes, ignore_index)
        except ValueError as e:
            raise ValueError(f'{pred_path} vs {gt_path}: {e}') from e
    return hist


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
    """Quality of pseudo labels: precision, recall and IoU per class.

    Reads ``pred_sem_seg`` (the pseudo label, 255 = unlabelled) and
    ``gt_sem_seg`` of each data sample, like ``IoUMetric``.

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
        """Store one confusion matrix per data sample."""
        num_classes = len(get_class_names(self.dataset_meta, self.num_classes))
        for data_sample in data_samples:
            pred = data_sample['pred_sem_seg']['data'].squeeze().cpu().numpy()
            gt = data_sample['gt_sem_seg']['data'].squeeze().cpu().numpy()
            self.results.append(
                confusion_matrix(pred, gt, num_classes, self.ignore_index))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the matrices, log the per-class table, return the means.

        Returns:
            dict: ``mPrecision``, ``mRecall``, ``mIoU`` and
            ``ignored_ratio`` in percent.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        hist = np.sum(results, axis=0)
        names = get_class_names(self.dataset_meta, self.num_classes)
        print_log('per class results:', logger)
        print_log('\n' + class_table(hist, names).get_string(), logger=logger)
        return {k: float(v) for k, v in summarize(hist).items()}
