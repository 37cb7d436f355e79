import json

import numpy as np
import pytest
from PIL import Image

from mmseg_wsss.utils.io import (VOC_PALETTE, atomic_write, color_palette,
                                 read_label_map, read_image, read_label_map,
                                 read_saliency, save_label_png)


def test_color_palette_matches_voc_and_sizes():
    assert (color_palette()[:21] == VOC_PALETTE).all()
    assert color_palette(5).shape == (5, 3)
    assert tuple(color_palette()[255]) == (255, 255, 255)


def test_save_label_png_roundtrip_and_atomicity(tmp_path):
    label = np.array([[0, 1, 255], [20, 3, 0]], dtype=np.uint8)
    path = tmp_path / 'sub' / 'a.png'
    save_label_png(label, str(path))
    with Image.open(path) as img:
        assert img.mode == 'P'
    assert (read_label_map(str(path)) == label).all()
    assert [p.name for p in path.parent.iterdir()] == ['a.png']  # no temp
    with pytest.raises(ValueError, match='H x W'):
        save_label_png(np.zeros((2, 2, 3)), str(tmp_path / 'b.png'))
    assert not (tmp_path / 'b.png').exists()
    with pytest.raises(FileNotFoundError, match='missing.png'):
        read_label_map(str(tmp_path / 'missing.png'))
    assert read_label_map is read_label_map


def test_atomic_write_replaces_or_keeps(tmp_path):
    path = tmp_path / 'out' / 'a.json'
    with atomic_write(str(path), 'w') as f:
        json.dump({'a': 1}, f)
    assert json.loads(path.read_text()) == {'a': 1}
    with pytest.raises(RuntimeError):
        with atomic_write(str(path), 'w') as f:
            f.write('{"half')
            raise RuntimeError('interrupted')
    # the old version is kept and the temporary file is gone
    assert json.loads(path.read_text()) == {'a': 1}
    assert [p.name for p in path.parent.iterdir()] == ['a.json']
    arr = np.arange(6, dtype=np.float16).reshape(2, 3)
    with atomic_write(str(tmp_path / 'c.npy')) as f:
        np.save(f, arr)
    np.testing.assert_array_equal(np.load(tmp_path / 'c.npy'), arr)


def test_read_image_rgb_and_stored_orientation(tmp_path):
    """RGB order; EXIF orientation is ignored (the stored pixels are read)."""
    img = np.zeros((16, 24, 3), np.uint8)
    img[..., 0] = 255  # red
    img[:8, :, 2] = 255  # top half magenta
    png = tmp_path / 'a.png'
    Image.fromarray(img).save(png)
    np.testing.assert_array_equal(read_image(str(png)), img)

    jpg = tmp_path / 'rot.jpg'
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(img).save(jpg, exif=exif, quality=100, subsampling=0)
    out = read_image(str(jpg))
    assert out.shape == (16, 24, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).max() < 8


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'image not found.*x\.jpg'):
        read_image(str(tmp_path / 'x.jpg'))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not an image')
    with pytest.raises(OSError, match=r'bad\.jpg'):
        read_image(str(bad))


def test_read_label_map_modes(tmp_path):
    grey = np.array([[0, 7], [255, 3]], np.uint8)
    Image.fromarray(grey).save(tmp_path / 'grey.png')
    np.testing.assert_array_equal(
        read_label_map(str(tmp_path / 'grey.png')), grey)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / 'rgb.png')
    with pytest.raises(ValueError, match=r"mask .*rgb\.png.*'RGB'"):
        read_label_map(str(tmp_path / 'rgb.png'), 'mask')
    # 16-bit grey masks read as mmseg's LoadAnnotations reads them
    wide = np.array([[0, 7], [255, 3]], np.uint16)
    Image.fromarray(wide).save(tmp_path / 'wide.png')
    label = read_label_map(str(tmp_path / 'wide.png'))
    assert label.dtype == np.uint8
    np.testing.assert_array_equal(label, grey)
    Image.fromarray(wide * 300).save(tmp_path / 'deep.png')
    with pytest.raises(ValueError, match=r"deep\.png.*outside 0\.\.255"):
        read_label_map(str(tmp_path / 'deep.png'))


def test_read_saliency_8_and_16_bit(tmp_path):
    sal8 = np.array([[0, 30], [128, 255]], np.uint8)
    Image.fromarray(sal8).save(tmp_path / 's8.png')
    np.testing.assert_allclose(
        read_saliency(str(tmp_path / 's8.png')), sal8 / 255, atol=1e-7)
    sal16 = (sal8.astype(np.uint16) * 257)
    Image.fromarray(sal16).save(tmp_path / 's16.png')
    out = read_saliency(str(tmp_path / 's16.png'))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, sal8 / 255, atol=1e-7)


def test_read_saliency_rgb_and_refused_modes(tmp_path):
    grey_rgb = np.repeat(np.array([[0, 51]], np.uint8)[..., None], 3, 2)
    Image.fromarray(grey_rgb).save(tmp_path / 'grey_rgb.png')
    np.testing.assert_allclose(
        read_saliency(str(tmp_path / 'grey_rgb.png')), [[0, 0.2]], atol=1e-7)
    colour = grey_rgb.copy()
    colour[0, 1, 2] = 0
    Image.fromarray(colour).save(tmp_path / 'colour.png')
    with pytest.raises(ValueError, match=r'colour\.png.*channels differ'):
        read_saliency(str(tmp_path / 'colour.png'))
    palette = Image.fromarray(np.zeros((2, 2), np.uint8)).convert('P')
    palette.save(tmp_path / 'p.png')
    with pytest.raises(ValueError, match=r"p\.png.*mode 'P'"):
        read_saliency(str(tmp_path / 'p.png'))
    with pytest.raises(FileNotFoundError, match=r'saliency map.*nope\.png'):
        read_saliency(str(tmp_path / 'nope.png'))
