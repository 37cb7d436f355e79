import sys

import numpy as np
import pytest

pytest.importorskip('pydensecrf')

from mmseg_wsss.utils.crf import crf_labels, dense_crf, saliency_crf  # noqa


def _two_regions(size=32):
    """Left half red, right half blue; labels 0 / 1."""
    img = np.zeros((size, size, 3), dtype=np.uint8)
    img[:, :size // 2] = (200, 30, 30)
    img[:, size // 2:] = (30, 30, 200)
    gt = np.zeros((size, size), dtype=np.int64)
    gt[:, size // 2:] = 1
    return img, gt


def _noisy_probs(gt, flip=0.3, seed=0):
    """Weakly confident probabilities with a share of flipped pixels."""
    rng = np.random.default_rng(seed)
    label = np.where(rng.random(gt.shape) < flip, 1 - gt, gt)
    p1 = np.where(label == 1, 0.65, 0.35)
    return np.stack([1 - p1, p1]).astype(np.float32)


def test_dense_crf_cleans_noise_and_is_a_distribution():
    img, gt = _two_regions()
    probs = _noisy_probs(gt)
    before = (probs.argmax(0) == gt).mean()
    q = dense_crf(img, probs)
    assert q.shape == probs.shape and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(0), 1, atol=1e-4)
    assert q.min() >= 0
    after = (q.argmax(0) == gt).mean()
    assert before < 0.8 and after > 0.97
    np.testing.assert_array_equal(crf_labels(img, probs), q.argmax(0))


def test_dense_crf_follows_colour_edge_of_blurred_map():
    img, gt = _two_regions()
    # a ramp across the whole width: its argmax boundary is off by 6 px
    x = np.linspace(0, 1, gt.shape[1])[None].repeat(gt.shape[0], 0)
    p1 = np.clip(0.5 + (x - 0.7) * 0.8, 0.05, 0.95)
    probs = np.stack([1 - p1, p1]).astype(np.float32)
    before = (probs.argmax(0) == gt).mean()
    after = (crf_labels(img, probs) == gt).mean()
    assert before < 0.85 and after > 0.95


def test_dense_crf_rejects_bad_input():
    img, gt = _two_regions()
    probs = _noisy_probs(gt)
    with pytest.raises(ValueError, match='does not match'):
        dense_crf(img[:16], probs)
    with pytest.raises(ValueError, match='uint8'):
        dense_crf(img.astype(np.float32), probs)
    with pytest.raises(ValueError, match='C x H x W'):
        dense_crf(img, probs[0])


def test_saliency_crf_constant_half_stays_half():
    img = np.full((24, 20, 3), 120, dtype=np.uint8)
    out = saliency_crf(img, np.full((24, 20), 0.5))
    assert out.shape == (24, 20)
    np.testing.assert_allclose(out, 0.5, atol=0.05)


def test_saliency_crf_range_and_direction():
    img, gt = _two_regions()
    rng = np.random.default_rng(1)
    sal = np.clip(0.2 + 0.6 * gt + rng.normal(0, 0.1, gt.shape), 0, 1)
    out = saliency_crf(img, sal)
    assert out.shape == sal.shape
    assert out.min() >= 0 and out.max() <= 1
    assert out[gt == 1].mean() > 0.5 > out[gt == 0].mean()
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        saliency_crf(img, sal * 2)


def test_missing_pydensecrf_says_what_to_install(monkeypatch):
    img, gt = _two_regions(8)
    for name in ('pydensecrf', 'pydensecrf.densecrf', 'pydensecrf.utils'):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match='pip install pydensecrf2==1.1'):
        dense_crf(img, _noisy_probs(gt))
