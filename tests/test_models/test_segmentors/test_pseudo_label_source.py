"""The contract of :meth:`PseudoLabelSource.label_outputs`, for every
segmentor that feeds a pseudo-label generator (add new ones to SOURCES)."""
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_wsss.models.segmentors import LABEL_OUTPUT_KEYS, PseudoLabelSource

# (config-builder fixture, its kwargs, keys expected with with_decode=True)
SOURCES = [
    ('cam_classifier_cfg', {}, {'cam'}),
    ('auxsegnet_cfg', {}, {'cam', 'affinity', 'sal', 'seg'}),
    ('auxsegnet_cfg', dict(affinity_mode='pairwise'),
     {'cam', 'affinity', 'sal', 'seg'}),
    ('auxsegnet_cfg', dict(affinity_mode='none'), {'cam', 'sal', 'seg'}),
]


@pytest.fixture(params=SOURCES, ids=lambda p: f'{p[0]}{p[1] or ""}')
def source(request):
    builder, kwargs, keys = request.param
    torch.manual_seed(0)
    model = MODELS.build(request.getfixturevalue(builder)(**kwargs)).eval()
    return model, keys


def _inputs(batch, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=gen)


def test_keys_and_shapes(source):
    model, keys = source
    assert isinstance(model, PseudoLabelSource)
    with torch.no_grad():
        out = model.label_outputs(_inputs(2, 33))
        cam_only = model.label_outputs(_inputs(2, 33), with_decode=False)
    assert set(out) == keys and keys <= set(LABEL_OUTPUT_KEYS)
    assert set(cam_only) == {'cam'}
    torch.testing.assert_close(cam_only['cam'], out['cam'])
    batch, k_fg, h, w = out['cam'].shape
    assert (batch, h, w) == (2, 5, 5)  # feature resolution (stride 8)
    assert k_fg == model.decode_head.num_classes - 1  # C counts background
    if 'affinity' in out:
        affinity = out['affinity']
        assert affinity.shape == (2, h * w, h * w)
        assert affinity.min() >= 0
        torch.testing.assert_close(
            affinity.sum(2), torch.ones(2, h * w), rtol=0, atol=1e-5)
    if 'sal' in out:
        assert out['sal'].shape == (2, 1, h, w)
    if 'seg' in out:
        assert out['seg'].shape == (2, k_fg + 1, h, w)


def test_images_are_independent(source):
    """Generators batch an image with its flipped copy: each image's
    outputs must not depend on the others in the batch (eval mode)."""
    model, _ = source
    inputs = _inputs(2, 33, seed=1)
    with torch.no_grad():
        batched = model.label_outputs(inputs)
        single = [model.label_outputs(inputs[i:i + 1]) for i in range(2)]
    for key, value in batched.items():
        expected = torch.cat([out[key] for out in single])
        torch.testing.assert_close(value, expected, rtol=1e-4, atol=1e-5)
