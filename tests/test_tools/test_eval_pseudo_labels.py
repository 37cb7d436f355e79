import json
import os.path as osp
import sys

import numpy as np
import pytest

from mmseg_wsss.utils.io import save_label_png

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools')


@pytest.fixture
def tool():
    sys.path.insert(0, TOOLS)
    try:
        import eval_pseudo_labels
        yield eval_pseudo_labels
    finally:
        sys.path.remove(TOOLS)


def _fixture(root):
    gt = {'a': np.array([[0, 0], [1, 255]]), 'b': np.array([[2, 2], [0, 1]])}
    pred = {'a': np.array([[0, 1], [1, 1]]), 'b': np.array([[2, 255], [0, 0]])}
    (root / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (root / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('a\nb\n')
    for i in gt:
        save_label_png(gt[i].astype(np.uint8),
                       str(root / 'SegmentationClass' / f'{i}.png'))
        save_label_png(pred[i].astype(np.uint8),
                       str(root / 'pred' / f'{i}.png'))
    return gt


def test_scores_label_dir(tool, tmp_path):
    _fixture(tmp_path)
    out = tmp_path / 'scores.json'
    res = tool.main([
        str(tmp_path / 'pred'), '--data-root',
        str(tmp_path), '--num-classes', '3', '--out',
        str(out)
    ])
    # by hand: GT 0: 3 px (TP 2), 1: 2 px (TP 1), 2: 2 px (TP 1, 1 unlabelled)
    # predicted 0: 3 px (TP 2), 1: 2 px (TP 1), 2: 1 px (TP 1)
    assert res['mPrecision'] == round((2 / 3 + 1 / 2 + 1) / 3 * 100, 2)
    assert res['mRecall'] == round((2 / 3 + 1 / 2 + 1 / 2) / 3 * 100, 2)
    assert res['mIoU'] == round((2 / 4 + 1 / 3 + 1 / 2) / 3 * 100, 2)
    assert res['ignored_ratio'] == round(1 / 7 * 100, 2)
    saved = json.loads(out.read_text())
    assert saved['mIoU'] == res['mIoU'] and saved['num_images'] == 2
    assert saved['per_class']['2']['Precision'] == 100.0
    # a class absent from labels and GT is skipped in the means (IoUMetric)
    res4 = tool.main([str(tmp_path / 'pred'), '--data-root', str(tmp_path),
                      '--num-classes', '4'])
    assert res4['mIoU'] == res['mIoU']
    assert set(res4['per_class']['3'].values()) == {None}


def test_missing_file_is_named(tool, tmp_path):
    _fixture(tmp_path)
    (tmp_path / 'pred' / 'b.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'pred/b\.png'):
        tool.main([str(tmp_path / 'pred'), '--data-root', str(tmp_path)])


def test_scores_cam_dir(tool, tmp_path):
    gt = _fixture(tmp_path)
    (tmp_path / 'cams').mkdir()
    for i, g in gt.items():
        cam = np.stack([(g == c) * 0.6 for c in (1, 2)]).astype(np.float32)
        np.save(tmp_path / 'cams' / f'{i}.npy', cam)
    res = tool.main([
        str(tmp_path / 'cams'), '--cam', '--data-root',
        str(tmp_path), '--num-classes', '3', '--thresholds', '0.5', '0.7'
    ])
    assert res['mIoU'] == 100.0 and res['best_thr'] == 0.5
