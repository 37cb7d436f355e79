import os.path as osp
import sys

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
    vis = tool.label_visualizer(alpha=0.5)
    assert tool.make_grid(vis, img).shape == (6, 8, 3)
    assert tool.make_grid(vis, img, label=label).shape == (6, 16, 3)
    grid = tool.make_grid(vis, img, cam, label, label)
    assert grid.shape == (6, 32, 3) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[:, :8], img)
    # jet: high CAM is red-ish, zero CAM blue-ish in the CAM panel
    heat = grid[:, 8:16].astype(int) - img // 2
    assert heat[2, 3, 0] > heat[2, 3, 2] and heat[0, 0, 2] > heat[0, 0, 0]
    # label and GT panels: the same map, drawn half over the image
    np.testing.assert_array_equal(grid[:, 16:24], grid[:, 24:])
    expected = (img * 0.5 + color_palette()[label] * 0.5).astype(np.uint8)
    np.testing.assert_array_equal(grid[:, 16:24], expected)
    with pytest.raises(ValueError, match='ground truth size'):
        tool.make_grid(vis, img, gt=label[:3])
    with pytest.raises(ValueError, match='CAM size'):
        tool.make_grid(vis, img, cam=cam[:, :3])


def test_overlay_marks_foreground_and_ignore(tool):
    img, label = _data()
    img[:] = 128
    out = tool.overlay(tool.label_visualizer(alpha=0.5), img, label)
    fg, ign = label == 3, label == 255
    # VOC class 3 is (128, 128, 0): the blue channel halves; bg (black)
    # darkens; ignore (white) brightens
    assert np.all(out[fg][:, 2] == 64) and np.all(out[fg][:, 0] == 128)
    assert np.all(out[label == 0] == 64) and np.all(out[ign] > 128)
    full = tool.overlay(tool.label_visualizer(alpha=1.), img, label)
    np.testing.assert_array_equal(full, color_palette()[label])


def test_cli_writes_grids(tool, tmp_path):
    img, label = _data()
    # stored 6 x 8 with EXIF "rotate 90": the label maps match the stored
    # pixels, so the tool must ignore the tag
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / 'JPEGImages').mkdir()
    Image.fromarray(img).save(
        tmp_path / 'JPEGImages' / 'x.jpg', quality=100, exif=exif)
    Image.fromarray(img).save(tmp_path / 'JPEGImages' / 'y.png')
    save_label_png(label, str(tmp_path / 'SegmentationClass' / 'x.png'))
    save_label_png(label, str(tmp_path / 'labels' / 'x.png'))
    paths = tool.main([
        '--data-root', str(tmp_path), '--ids', 'x', '--label-dir',
        str(tmp_path / 'labels'), '--gt-dir', 'SegmentationClass',
        '--out-dir', str(tmp_path / 'vis')
    ])
    assert paths == [str(tmp_path / 'vis' / 'x.png')]
    grid = np.array(Image.open(paths[0]))
    assert grid.shape == (6, 24, 3)
    np.testing.assert_array_equal(grid[:, 8:16], grid[:, 16:])
    fg = label == 3
    diff = np.abs(grid[:, 8:16].astype(int) - grid[:, :8]).sum(-1)
    assert np.all(diff[fg] > 0)
    # the image panel is the image, in RGB order (lossless PNG input)
    paths = tool.main(['--data-root', str(tmp_path), '--ids', 'y',
                       '--img-suffix', '.png', '--out-dir',
                       str(tmp_path / 'vis')])
    np.testing.assert_array_equal(np.array(Image.open(paths[0])), img)
    with pytest.raises(FileNotFoundError, match=r'missing_dir/x\.png'):
        tool.main(['--data-root', str(tmp_path), '--ids', 'x', '--label-dir',
                   str(tmp_path / 'missing_dir'), '--out-dir',
                   str(tmp_path / 'vis')])


def test_script_starts_in_a_fresh_interpreter():
    """The mmcv-lite shims load before mmseg's visualization imports."""
    import subprocess
    proc = subprocess.run([sys.executable, osp.join(TOOLS, 'visualize.py'),
                           '--help'], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
