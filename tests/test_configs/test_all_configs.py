"""Properties every config of the repository keeps."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True)
    if '_base_' not in p)


def _transforms(obj):
    """Every dict with a ``type`` inside a (nested) config value."""
    if isinstance(obj, dict):
        if 'type' in obj:
            yield obj
        for value in obj.values():
            yield from _transforms(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _transforms(value)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_images_are_read_ignoring_exif_orientation(path):
    """Masks and saliency maps are stored pixels: an image rotated by its
    EXIF tag would no longer match them."""
    cfg = Config.fromfile(path, import_custom_modules=False)
    loaders = [
        t for t in _transforms(cfg.to_dict())
        if t['type'] in ('LoadImageFromFile', 'mmseg.LoadImageFromFile')
    ]
    assert loaders, f'{path} loads no image'
    for loader in loaders:
        assert loader.get('color_type') == 'color_ignore_orientation', path
