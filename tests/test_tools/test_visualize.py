import os.path as osp
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg_wsss.utils.io import color_palette, save_label_png

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools')


@pytest.fixture
def tool():
    sys.path.insert(0, TOOLS)
    try:
        import visualize
        yield visualize
    finally:
        sys.path.remove(TOOLS)


def _data(h=6, w=8, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    label = np.zeros((h, w), dtype=np.uint8)
    label[1:4, 2:6] = 3
    label[5, 0] = 255
    return img, label


def test_grid_shape_and_panels(tool):
    img, label = _data()
    cam = np.zeros((20, 6, 8), dtype=np.float32)
    cam[2, 1:4, 2:6] = 1.
    assert tool.make_grid(img).shape == (6, 8, 3)
    assert tool.make_grid(img, label=label).shape == (6, 16, 3)
    grid = tool.make_grid(img, cam, label, label)
    assert grid.shape == (6, 32, 3) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[:, :8], img)
    np.testing.assert_array_equal(grid[:, 16:24], color_palette()[label])
    # jet: high CAM is red-ish, zero CAM blue-ish in the CAM panel
    heat = grid[:, 8:16].astype(int) - img // 2
    assert heat[2, 3, 0] > heat[2, 3, 2] and heat[0, 0, 2] > heat[0, 0, 0]
    with pytest.raises(ValueError, match='does not match'):
        tool.make_grid(img, gt=label[:3])


def test_overlay(tool):
    img, label = _data()
    out = tool.overlay(img, label, color_palette(), alpha=0.5)
    bg = label == 0
    np.testing.assert_array_equal(out[bg], img[bg])
    assert not np.array_equal(out[~bg], img[~bg])
    np.testing.assert_array_equal(tool.overlay(img, label, alpha=0.), img)
    full = tool.overlay(img, label, alpha=1.)
    np.testing.assert_array_equal(full[~bg], color_palette()[label[~bg]])


def test_cli_writes_grids(tool, tmp_path):
    img, label = _data()
    (tmp_path / 'JPEGImages').mkdir()
    cv2.imwrite(str(tmp_path / 'JPEGImages' / 'x.jpg'), img)
    save_label_png(label, str(tmp_path / 'SegmentationClass' / 'x.png'))
    save_label_png(label, str(tmp_path / 'labels' / 'x.png'))
    paths = tool.main([
        '--data-root', str(tmp_path), '--ids', 'x', '--label-dir',
        str(tmp_path / 'labels'), '--gt-dir', 'SegmentationClass',
        '--out-dir', str(tmp_path / 'vis')
    ])
    assert len(paths) == 1
    grid = np.array(Image.open(paths[0]))
    assert grid.shape == (6, 24, 3)
    np.testing.assert_array_equal(grid[:, 8:16], grid[:, 16:])
    with pytest.raises(FileNotFoundError, match=r'missing_dir/x\.png'):
        tool.main(['--data-root', str(tmp_path), '--ids', 'x', '--label-dir',
                   str(tmp_path / 'missing_dir'), '--out-dir',
                   str(tmp_path / 'vis')])
