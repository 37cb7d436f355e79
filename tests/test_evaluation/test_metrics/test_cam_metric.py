import numpy as np
import pytest
import torch

from mmseg.evaluation import IoUMetric

from mmseg_wsss.evaluation.metrics import (CAMMetric, cam_areas, label_areas,
                                           summarize)


def _sample(cam, gt):
    return dict(
        pred_cam=dict(data=torch.from_numpy(cam)),
        gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))


def _metric(num_classes, metric_type=CAMMetric, **kwargs):
    metric = metric_type(**kwargs)
    metric.dataset_meta = dict(classes=[str(i) for i in range(num_classes)])
    return metric


def test_sweep_equals_thresholding_each_t():
    rng = np.random.default_rng(0)
    cam = rng.random((4, 9, 7)).astype(np.float32)
    cam[:, 0, 0] = 0.5  # a tie: lowest class wins
    gt = rng.integers(0, 5, (9, 7))
    gt[0, :3] = 255
    thresholds = np.array([0.1, 0.5, 0.8, 0.95])
    areas = cam_areas(cam, gt, thresholds)
    assert areas.shape == (4, 5, 5)
    for j, t in enumerate(thresholds):
        label = np.where(cam.max(0) < t, 0, cam.argmax(0) + 1)
        np.testing.assert_array_equal(areas[j], label_areas(label, gt, 5))


def test_miou_per_threshold_is_iou_metric():
    rng = np.random.default_rng(1)
    cam = rng.random((4, 10, 8)).astype(np.float32)
    cam[3] = 0  # class 4 is never predicted (and GT lacks it)
    gt = rng.integers(0, 4, (10, 8))
    gt[0] = 255
    thresholds = np.array([0.3, 0.6, 0.9])
    miou = summarize(cam_areas(cam, gt, thresholds))['mIoU']
    for j, t in enumerate(thresholds):
        label = np.where(cam.max(0) < t, 0, cam.argmax(0) + 1)
        stock = _metric(5, IoUMetric)
        stock.process({}, [dict(
            pred_sem_seg=dict(data=torch.from_numpy(label)[None]),
            gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))])
        assert miou[j] == round(float(stock.evaluate(1)['mIoU']), 2)


def test_perfect_cams_score_100():
    gt = np.zeros((6, 6), dtype=np.int64)
    gt[:3, :3], gt[3:, 2:] = 1, 2
    gt[0, 5] = 255
    cam = np.stack([(gt == c).astype(np.float32) for c in (1, 2)])
    metric = _metric(3)
    metric.process({}, [_sample(cam, gt)])
    res = metric.evaluate(1)
    assert res['cam/mIoU'] == 100.0


def test_picks_the_constructed_threshold():
    # one fg class: fg pixels at 0.37, bg pixels at 0.32 or 0.1, so only
    # 0.35 separates them (0.30 takes the 0.32 pixels, 0.40 drops all fg)
    gt = np.zeros((8, 8), dtype=np.int64)
    gt[2:6, 2:6] = 1
    cam = np.where(gt == 1, 0.37, 0.1)[None].astype(np.float32)
    cam[0, 0, :] = 0.32
    metric = _metric(2)
    metric.process({}, [_sample(cam, gt)])
    metric.process({}, [_sample(cam, gt)])
    res = metric.evaluate(2)
    assert res['cam/best_thr'] == 0.35
    assert res['cam/mIoU'] == 100.0
    near = summarize(cam_areas(cam, gt, np.array([0.3, 0.4])))['mIoU']
    assert np.all(near < 100)


def test_bad_input():
    metric = _metric(3)
    with pytest.raises(ValueError, match='1 channels, expected 2'):
        metric.process({}, [_sample(np.zeros((1, 2, 2), np.float32),
                                    np.zeros((2, 2), np.int64))])
    with pytest.raises(ValueError, match='does not match'):
        cam_areas(np.zeros((2, 3, 3)), np.zeros((2, 2)), np.ones(1))
    with pytest.raises(ValueError, match='ascending'):
        CAMMetric(thresholds=[0.5, 0.2])


def test_unknown_argument_is_an_error():
    with pytest.raises(TypeError):
        CAMMetric(threshold=[0.3])  # typo of `thresholds` must not pass
