"""PAMR (wsfcn.md 2.9; properties P5 of section 6)."""
import math
import statistics

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_wsss.models.utils.pamr import PAMR

SMALL_DILATIONS = (1, 2, 7)  # 7 reaches past the 5 x 6 test images


def _reference(img: torch.Tensor, masks: torch.Tensor, dilations,
               num_iter: int) -> tuple:
    """wsfcn.md 2.9 pixel by pixel: clamped (replicate) positions, sample
    std over the 9|D| window values, centre not a neighbour."""
    channels, h, w = img.shape

    def at(y, x):
        return min(max(y, 0), h - 1), min(max(x, 0), w - 1)

    offsets = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    alpha = torch.zeros(8 * len(dilations), h, w, dtype=img.dtype)
    positions = {}
    for i in range(h):
        for j in range(w):
            window = [at(i + a * d, j + b * d) for d in dilations
                      for a, b in offsets]
            std = [
                statistics.stdev(float(img[k][p]) for p in window)
                for k in range(channels)
            ]
            nbrs = [at(i + a * d, j + b * d) for d in dilations
                    for a, b in offsets if (a, b) != (0, 0)]
            kappa = [
                -sum(
                    abs(float(img[k, i, j] - img[k][p])) /
                    (1e-8 + 0.1 * std[k])
                    for k in range(channels)) / channels for p in nbrs
            ]
            top = max(kappa)
            weights = [math.exp(v - top) for v in kappa]
            alpha[:, i, j] = torch.tensor(weights) / sum(weights)
            positions[i, j] = nbrs
    for _ in range(num_iter):
        new = torch.zeros_like(masks)
        for (i, j), nbrs in positions.items():
            for n, p in enumerate(nbrs):
                new[:, i, j] += alpha[n, i, j] * masks[:, p[0], p[1]]
        masks = new
    return alpha, masks


def test_affinity_and_refinement_follow_the_spec_formula():
    torch.manual_seed(0)
    img = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    masks = torch.rand(1, 2, 5, 6, dtype=torch.float64)
    pamr = PAMR(num_iter=2, dilations=SMALL_DILATIONS)
    alpha, refined = _reference(img[0], masks[0], SMALL_DILATIONS, 2)
    torch.testing.assert_close(pamr.affinity(img)[0], alpha)
    torch.testing.assert_close(pamr(img, masks)[0], refined)


def test_probability_vectors_stay_probability_vectors():
    """P5 (i)."""
    torch.manual_seed(0)
    img = torch.rand(2, 3, 12, 14)
    masks = torch.randn(2, 4, 12, 14).mul(3).softmax(dim=1)
    out = PAMR()(img, masks)
    assert out.shape == masks.shape
    assert out.min() >= 0
    torch.testing.assert_close(out.sum(1), torch.ones(2, 12, 14), atol=1e-5,
                               rtol=0)


def test_zero_iterations_return_the_masks():
    """P5 (ii)."""
    img, masks = torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6)
    assert torch.equal(PAMR(num_iter=0)(img, masks), masks)


def test_constant_image_gives_uniform_affinity():
    """P5 (iii)."""
    img = torch.full((1, 3, 9, 10), 0.4)
    pamr = PAMR()
    alpha = pamr.affinity(img)
    assert alpha.shape == (1, 48, 9, 10)
    torch.testing.assert_close(alpha, torch.full_like(alpha, 1 / 48))
    masks = torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1).expand(1, 3, 9, 10)
    torch.testing.assert_close(pamr(img, masks), masks)


@pytest.mark.parametrize('dim', [-1, -2])
def test_flip_equivariance(dim):
    """P5 (iv) (horizontal; vertical too)."""
    torch.manual_seed(1)
    img = torch.rand(2, 3, 11, 13)
    masks = torch.rand(2, 3, 11, 13)
    pamr = PAMR()
    torch.testing.assert_close(
        pamr(img.flip(dim), masks.flip(dim)), pamr(img, masks).flip(dim),
        atol=1e-5, rtol=0)


def test_mass_does_not_cross_a_colour_edge():
    """P5 (v): two flat regions, colour step 1.0, one-hot masks on them."""
    img = torch.zeros(1, 3, 12, 16)
    img[..., 8:] = 1.0
    masks = torch.zeros(1, 2, 12, 16)
    masks[:, 0, :, :8] = 1.0
    masks[:, 1, :, 8:] = 1.0
    out = PAMR(num_iter=10)(img, masks)
    crossed = out[0, 1, :, :8].sum() + out[0, 0, :, 8:].sum()
    assert crossed < 1e-3
    # the same masks on a flat image spread across the boundary
    flat = PAMR(num_iter=10)(torch.zeros_like(img), masks)
    assert flat[0, 1, :, :8].sum() > 1.0


def test_image_is_resized_to_the_masks():
    torch.manual_seed(2)
    img = torch.rand(1, 3, 17, 21)
    masks = torch.rand(1, 2, 9, 11)
    small = F.interpolate(img, size=(9, 11), mode='bilinear',
                          align_corners=True)
    pamr = PAMR(num_iter=3)
    torch.testing.assert_close(pamr(img, masks), pamr(small, masks))


def test_registered_without_parameters():
    pamr = MODELS.build(dict(type='PAMR', num_iter=5))
    assert isinstance(pamr, PAMR) and pamr.num_iter == 5
    assert list(pamr.parameters()) == []
    with pytest.raises(ValueError):
        pamr(torch.rand(2, 3, 4, 4), torch.rand(1, 3, 4, 4))


def test_half_precision_masks_on_flat_regions():
    """The affinities are computed in float32: eps = 1e-8 is 0 in float16,
    which would make a flat region (zero spread) 0 / 0."""
    img = torch.zeros(1, 3, 8, 12)
    img[..., 6:] = 1.0
    masks = torch.rand(1, 2, 8, 12)
    pamr = PAMR(num_iter=3, dilations=(1, 2))
    out = pamr(img.half(), masks.half())
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), pamr(img, masks), atol=1e-2,
                               rtol=0)
