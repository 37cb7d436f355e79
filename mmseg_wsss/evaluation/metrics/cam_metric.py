"""mIoU of CAMs as pseudo labels, swept over the background threshold."""
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.utils import track_iter_progress
from mmseg.registry import METRICS
from prettytable import PrettyTable

from mmseg_wsss.utils.io import read_cam, read_label_map
from .pseudo_label_metric import AREA_KEYS, get_class_names, summarize


def default_thresholds() -> np.ndarray:
    """Background thresholds 0.05, 0.10, ..., 0.95."""
    return np.round(np.arange(0.05, 0.96, 0.05), 2)


def cam_areas(cam: np.ndarray,
              gt: np.ndarray,
              thresholds: np.ndarray,
              ignore_index: int = 255) -> np.ndarray:
    """Areas of thresholded CAMs for every threshold at once.

    At threshold t a pixel is background where ``max_c cam < t``, else
    ``argmax_c cam + 1`` (ties go to the lowest class). Each pixel is binned
    by how many thresholds its max reaches, so one bincount gives all T
    label maps' areas.

    Args:
        cam (np.ndarray): ``(C - 1) x H x W`` foreground CAMs in [0, 1].
        gt (np.ndarray): ``H x W`` ground truth, 0..C-1 or ``ignore_index``.
        thresholds (np.ndarray): ``T`` ascending thresholds.
        ignore_index (int): GT ignore value.

    Returns:
        np.ndarray: ``T x 5 x C`` float64 areas, each equal to
        :func:`label_areas` of the label map at that threshold (the
        ``unlabelled`` row is zero).

    Raises:
        ValueError: The shapes disagree or GT holds a value outside
            ``0..C-1`` and ``ignore_index``.
    """
    cam = np.asarray(cam)
    gt = np.asarray(gt)
    if cam.ndim != 3 or cam.shape[1:] != gt.shape:
        raise ValueError(f'CAM shape {cam.shape} does not match ground truth '
                         f'{gt.shape}; expected (C-1) x H x W')
    num_fg = cam.shape[0]
    num_classes = num_fg + 1
    valid = gt != ignore_index
    gt = gt[valid].astype(np.int64)
    if gt.size and (gt.min() < 0 or gt.max() >= num_classes):
        bad = gt[(gt < 0) | (gt >= num_classes)][0]
        raise ValueError(f'ground truth holds value {bad}; expected '
                         f'0..{num_fg} or {ignore_index} for a CAM with '
                         f'{num_fg} foreground channels')
    cam = cam[:, valid]
    level = np.searchsorted(
        thresholds, cam.max(0).astype(np.float64), side='right')
    num_thr = len(thresholds)
    key = (level * num_classes + gt) * num_fg + cam.argmax(0)
    hist = np.bincount(
        key, minlength=(num_thr + 1) * num_classes * num_fg).reshape(
            num_thr + 1, num_classes, num_fg)
    # foreground at threshold j <=> level > j; fg[j, gt class, fg class]
    fg = np.cumsum(hist[::-1], axis=0)[::-1][1:]
    label = hist.sum((0, 2))
    areas = np.zeros((num_thr, len(AREA_KEYS), num_classes))
    intersect, union, pred = areas[:, 0], areas[:, 1], areas[:, 2]
    intersect[:, 0] = label[0] - fg[:, 0].sum(-1)
    intersect[:, 1:] = np.diagonal(fg[:, 1:], axis1=1, axis2=2)
    pred[:, 1:] = fg.sum(1)
    pred[:, 0] = label.sum() - pred[:, 1:].sum(-1)
    areas[:, 3] = label
    union[:] = pred + label - intersect
    return areas


def cam_dir_stats(cam_dir: str,
                  gt_dir: str,
                  ids: Sequence[str],
                  thresholds: Optional[Sequence[float]] = None,
                  ignore_index: int = 255,
                  progress: bool = False) -> np.ndarray:
    """Accumulate :func:`cam_areas` over ``<id>.npy`` CAMs on disk.

    Returns:
        np.ndarray: ``T x 5 x C`` summed areas.

    Raises:
        FileNotFoundError: CAM or GT files are missing (named).
        ValueError: A pair is invalid (named).
    """
    thresholds = check_thresholds(thresholds)
    pairs = [(osp.join(cam_dir, i + '.npy'), osp.join(gt_dir, i + '.png'))
             for i in ids]
    missing = [p for pair in pairs for p in pair if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} file(s) missing, e.g. {", ".join(missing[:5])}')
    total = 0
    for cam_path, gt_path in (track_iter_progress(pairs)
                              if progress else pairs):
        try:
            total = total + cam_areas(
                read_cam(cam_path), read_label_map(gt_path, 'ground truth'),
                thresholds, ignore_index)
        except ValueError as e:
            raise ValueError(f'{cam_path} vs {gt_path}: {e}') from e
    return total


def check_thresholds(thresholds: Optional[Sequence[float]]) -> np.ndarray:
    """The thresholds as a float64 array (default if None); must ascend."""
    if thresholds is None:
        return default_thresholds()
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if thresholds.size == 0 or np.any(np.diff(thresholds) <= 0):
        raise ValueError('thresholds must be a non-empty strictly ascending '
                         f'sequence, got {thresholds.tolist()}')
    return thresholds


def curve_table(areas: np.ndarray, thresholds: np.ndarray) -> PrettyTable:
    """mIoU / mPrecision / mRecall per threshold (``T x 5 x C`` areas)."""
    means = summarize(areas)
    table = PrettyTable()
    table.add_column('bg thr', np.round(thresholds, 2).tolist())
    for key in ('mIoU', 'mPrecision', 'mRecall'):
        table.add_column(key, means[key].tolist())
    return table


@METRICS.register_module()
class CAMMetric(BaseMetric):
    """Best mIoU of CAMs over a sweep of background thresholds.

    The mIoU at each threshold is ``IoUMetric``'s of the thresholded CAMs
    (see :func:`summarize`).

    Reads ``pred_cam`` (PixelData, ``(C - 1) x H x W`` CAMs in [0, 1], zero
    for classes absent from the image labels) and ``gt_sem_seg`` of each
    data sample. Areas are summed as they come (memory O(T * C) per
    rank); under DDP the padding samples of the sampler are counted too.

    Args:
        thresholds (Sequence[float], optional): Ascending background
            thresholds; default 0.05, 0.10, ..., 0.95.
        num_classes (int, optional): C with background; defaults to the
            dataset classes.
        ignore_index (int): GT ignore value. Default: 255.
        collect_device (str): Device for collecting results across ranks.
        prefix (str, optional): Prefix of the metric names. Default: ``cam``
            (``cam/mIoU``, ``cam/best_thr``), so it sits beside IoUMetric.
    """

    default_prefix = 'cam'

    def __init__(self,
                 thresholds: Optional[Sequence[float]] = None,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = check_thresholds(thresholds)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Add the samples' threshold-sweep areas to the running sum."""
        num_classes = len(get_class_names(self.dataset_meta, self.num_classes))
        for data_sample in data_samples:
            cam = data_sample['pred_cam']['data'].float().cpu().numpy()
            gt = data_sample['gt_sem_seg']['data'].squeeze().cpu().numpy()
            if cam.shape[0] != num_classes - 1:
                raise ValueError(
                    f'{data_sample.get("img_path", "sample")}: pred_cam has '
                    f'{cam.shape[0]} channels, expected {num_classes - 1} '
                    '(one per foreground class)')
            areas = cam_areas(cam, gt, self.thresholds, self.ignore_index)
            if self.results:
                self.results[0] += areas
            else:
                self.results.append(areas)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Log the threshold curve; return the best mIoU and its threshold.

        Returns:
            dict: ``mIoU``, ``mPrecision``, ``mRecall`` (percent) at
            ``best_thr``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        areas = np.sum(results, axis=0)
        if areas[0, AREA_KEYS.index('label')].sum() == 0:
            raise ValueError('CAMMetric: no ground-truth pixel outside '
                             f'ignore_index={self.ignore_index} was seen')
        means = summarize(areas)
        best = int(np.nanargmax(means['mIoU']))
        print_log('CAM mIoU per background threshold:', logger)
        print_log(
            '\n' + curve_table(areas, self.thresholds).get_string(),
            logger=logger)
        metrics = {k: float(means[k][best])
                   for k in ('mIoU', 'mPrecision', 'mRecall')}
        metrics['best_thr'] = round(float(self.thresholds[best]), 2)
        return metrics
