import numpy as np
import pytest
import torch

from mmseg.evaluation import IoUMetric

from mmseg_wsss.evaluation.metrics import (PseudoLabelMetric, class_scores,
                                           label_areas, label_dir_stats,
                                           summarize)
from mmseg_wsss.utils.io import save_label_png

I = 255  # noqa: E741
GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [2, 2, 1, I],
               [2, 2, 0, I]])
LABEL = np.array([[0, 1, 1, 1],
                  [0, 0, I, 1],
                  [2, 0, 1, 1],
                  [I, 2, 0, 2]])
# by hand: GT counts 5/5/4, label counts (GT-valid pixels) 5/5/2,
# TP 4/4/2, two GT-valid pixels unlabelled
PRECISION = [4 / 5, 4 / 5, 2 / 2]
RECALL = [4 / 5, 4 / 5, 2 / 4]
IOU = [4 / 6, 4 / 6, 2 / 4]


def _sample(label, gt):
    return dict(
        pred_sem_seg=dict(data=torch.from_numpy(label)[None]),
        gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))


def _metric(metric, num_classes):
    metric.dataset_meta = dict(classes=[str(i) for i in range(num_classes)])
    return metric


def test_hand_computed_scores():
    hist = label_areas(LABEL, GT, 3)
    assert hist.shape == (5, 3) and hist[3].sum() == 14
    scores = class_scores(hist)
    np.testing.assert_allclose(scores['Precision'], PRECISION)
    np.testing.assert_allclose(scores['Recall'], RECALL)
    np.testing.assert_allclose(scores['IoU'], IOU)
    means = summarize(hist)
    assert means['mPrecision'] == round(np.mean(PRECISION) * 100, 2) == 86.67
    assert means['mRecall'] == 70.0
    assert means['mIoU'] == 61.11
    assert means['ignored_ratio'] == round(2 / 14 * 100, 2)


def test_unlabelled_lowers_recall_not_precision():
    gt = GT.copy()
    gt[gt == I] = 0
    label = gt.copy()
    label[0, 0] = label[2, 2] = I
    scores = class_scores(label_areas(label, gt, 3))
    np.testing.assert_allclose(scores['Precision'], 1)
    np.testing.assert_allclose(scores['Recall'], [6 / 7, 4 / 5, 1])
    np.testing.assert_allclose(scores['IoU'], [6 / 7, 4 / 5, 1])


def test_gt_ignore_is_excluded():
    other = LABEL.copy()
    other[GT == I] = [0, I]
    np.testing.assert_array_equal(
        label_areas(LABEL, GT, 3), label_areas(other, GT, 3))


def test_class_means_as_iou_metric():
    label = LABEL.copy()
    label[0, 1] = 3  # a false positive of class 3, which GT lacks
    scores = class_scores(label_areas(label, GT, 5))
    # class 3: IoU and precision 0, recall undefined; class 4: all undefined
    assert scores['IoU'][3] == 0 and np.isnan(scores['Recall'][3])
    assert all(np.isnan(v[4]) for v in scores.values())
    means = summarize(label_areas(label, GT, 5))
    assert means['mIoU'] == round((4 / 5 + 4 / 6 + 2 / 4 + 0) / 4 * 100, 2)
    assert means['mRecall'] == round((4 / 5 + 4 / 5 + 2 / 4) / 3 * 100, 2)


def test_equals_stock_iou_metric_on_random_maps():
    rng = np.random.default_rng(0)
    ours, stock = _metric(PseudoLabelMetric(), 7), _metric(
        IoUMetric(iou_metrics=['mIoU', 'mFscore']), 7)
    for _ in range(3):
        gt = rng.integers(0, 5, (16, 12))  # classes 5 and 6 not in GT
        gt[rng.random(gt.shape) < 0.1] = I
        label = rng.integers(0, 6, (16, 12))  # 5: predicted only, 6: absent
        label[rng.random(gt.shape) < 0.2] = I
        for metric in (ours, stock):
            metric.process({}, [_sample(label, gt)])
    res, ref = ours.evaluate(3), stock.evaluate(3)
    assert 0 < res['mIoU'] < 100 and not np.isnan(res['mIoU'])
    for key in ('mIoU', 'mPrecision', 'mRecall'):
        # IoUMetric rounds in float32 (6.39 -> 6.3899998)
        assert res[key] == round(float(ref[key]), 2)


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match='prediction holds value 7'):
        label_areas(np.full((2, 2), 7), np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match='ground truth holds value 5'):
        label_areas(np.zeros((2, 2)), np.full((2, 2), 5), 3)
    with pytest.raises(ValueError, match='shape'):
        label_areas(np.zeros((2, 3)), np.zeros((2, 2)), 3)


def test_metric_accumulates_samples_and_logs_table():
    metric = PseudoLabelMetric()
    metric.dataset_meta = dict(classes=('bg', 'a', 'b'))
    metric.process({}, [_sample(LABEL, GT)])
    metric.process({}, [_sample(GT.clip(0, 2), GT)])
    res = metric.evaluate(2)
    # the perfect second sample doubles TP and counts: only ignores differ
    hist = label_areas(LABEL, GT, 3) + label_areas(
        GT.clip(0, 2), GT, 3)
    assert res == {k: float(v) for k, v in summarize(hist).items()}
    assert res['mIoU'] > 61.11
    assert set(res) == {'mPrecision', 'mRecall', 'mIoU', 'ignored_ratio'}


def test_label_dir_stats_matches_and_names_missing(tmp_path):
    for sub, arr in (('pred', LABEL), ('gt', GT)):
        save_label_png(arr.astype(np.uint8), str(tmp_path / sub / 'a.png'))
    hist = label_dir_stats(
        str(tmp_path / 'pred'), str(tmp_path / 'gt'), ['a'], 3)
    np.testing.assert_array_equal(hist, label_areas(LABEL, GT, 3))
    with pytest.raises(FileNotFoundError, match='b.png'):
        label_dir_stats(
            str(tmp_path / 'pred'), str(tmp_path / 'gt'), ['a', 'b'], 3)
