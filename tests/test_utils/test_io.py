import numpy as np
import pytest

from mmseg_wsss.utils.io import (VOC_PALETTE, color_palette, load_label_png,
                                 save_label_png)


def test_color_palette_matches_voc_and_sizes():
    assert (color_palette()[:21] == VOC_PALETTE).all()
    assert color_palette(5).shape == (5, 3)
    assert tuple(color_palette()[255]) == (255, 255, 255)


def test_save_label_png_roundtrip_and_atomicity(tmp_path):
    label = np.array([[0, 1, 255], [20, 3, 0]], dtype=np.uint8)
    path = tmp_path / 'sub' / 'a.png'
    save_label_png(label, str(path))
    assert (load_label_png(str(path)) == label).all()
    assert [p.name for p in path.parent.iterdir()] == ['a.png']  # no temp
    with pytest.raises(ValueError, match='H x W'):
        save_label_png(np.zeros((2, 2, 3)), str(tmp_path / 'b.png'))
    assert not (tmp_path / 'b.png').exists()
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_label_png(str(tmp_path / 'missing.png'))
