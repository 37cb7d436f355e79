"""CoSA's online rules: CPL, perplexity, SPL (cosa.md 2.7, 2.8, 2.10;
properties 5, 6 and 9 of section 6)."""
import math

import pytest
import torch

from mmseg_wsss.pseudo_labels import (cam_pseudo_labels, perplexity,
                                      soft_segmentation_labels)

IGN = 255


def _masked_cam(seed=0, batch=2, classes=4, size=(6, 7)):
    """Random CAMs in [0, 1] with absent classes zeroed, and the labels."""
    gen = torch.Generator().manual_seed(seed)
    img_labels = torch.tensor([[1., 0., 1., 0.], [0., 1., 0., 0.]])[:batch]
    cam = torch.rand(batch, classes, *size, generator=gen)
    return cam * img_labels[..., None, None], img_labels


# property 5: CPL


def test_cpl_hand_made_example():
    c1 = [[0.9, 0.2, 0.6]]
    c2 = [[0.3, 0.1, 0.7]]
    labels, nu = cam_pseudo_labels(torch.tensor([[c1, c2]]), 0.5)
    assert labels.dtype == torch.long
    assert labels.tolist() == [[[1, 0, 2]]]
    torch.testing.assert_close(nu, torch.tensor([[[0.9, 0.2, 0.7]]]))


def test_cpl_absent_classes_never_appear_and_low_confidence_is_background():
    cam, img_labels = _masked_cam()
    labels, nu = cam_pseudo_labels(cam, 0.3)
    for b in range(len(labels)):
        present = {0} | {c + 1 for c in img_labels[b].nonzero()[:, 0].tolist()}
        assert set(labels[b].unique().tolist()) <= present
    assert torch.all(labels[nu < 0.3] == 0)
    assert torch.all(labels[nu >= 0.3] > 0)
    torch.testing.assert_close(nu, cam.amax(dim=1))


def test_cpl_outside_valid_is_ignored():
    cam, _ = _masked_cam()
    valid = torch.zeros(2, 6, 7, dtype=torch.bool)
    valid[:, :4, :5] = True
    labels, _ = cam_pseudo_labels(cam, 0.5, valid)
    inside, _ = cam_pseudo_labels(cam, 0.5)
    assert torch.all(labels[~valid] == IGN)
    assert torch.equal(labels[valid], inside[valid])


def test_cpl_dual_with_equal_thresholds_is_single():
    cam, _ = _masked_cam(seed=1)
    valid = torch.rand(2, 6, 7) > 0.2
    single = cam_pseudo_labels(cam, 0.45, valid)
    dual = cam_pseudo_labels(cam, (0.45, 0.45), valid)
    assert torch.equal(single[0], dual[0])
    assert torch.equal(single[1], dual[1])


def test_cpl_dual_ignores_exactly_the_band():
    cam, _ = _masked_cam(seed=2)
    labels, nu = cam_pseudo_labels(cam, (0.25, 0.7))
    band = (nu >= 0.25) & (nu < 0.7)
    assert band.any()
    assert torch.equal(labels == IGN, band)
    assert torch.all(labels[nu < 0.25] == 0)
    assert torch.equal(labels[nu >= 0.7], cam.argmax(dim=1)[nu >= 0.7] + 1)


def test_cpl_no_pixel_above_threshold_is_all_background():
    labels, nu = cam_pseudo_labels(torch.full((2, 3, 4, 4), 0.1), 0.5)
    assert torch.all(labels == 0)
    assert torch.isfinite(perplexity(nu, 0.5)).all()


@pytest.mark.parametrize(
    'threshold', [0.0, 1.0, -0.2, (0.7, 0.3), (0.0, 0.5), (0.2, 0.5, 0.7)])
def test_cpl_rejects_bad_thresholds(threshold):
    with pytest.raises(ValueError, match='threshold'):
        cam_pseudo_labels(torch.rand(1, 2, 3, 3), threshold)
    with pytest.raises(ValueError, match='threshold'):
        perplexity(torch.rand(3), threshold)


def test_cpl_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'\(2, 3, 4\)'):
        cam_pseudo_labels(torch.rand(2, 3, 4), 0.5)
    with pytest.raises(ValueError, match=r'\(2, 4, 4\).*\(2, 5, 4\)'):
        cam_pseudo_labels(
            torch.rand(2, 3, 4, 4), 0.5, torch.ones(2, 5, 4, dtype=torch.bool))


# property 6: perplexity


@pytest.mark.parametrize('threshold', [0.3, 0.5, 0.8, (0.25, 0.7)])
def test_perplexity_at_the_extremes(threshold):
    p = perplexity(torch.tensor([0.0, 1.0]), threshold)
    torch.testing.assert_close(p, torch.full((2, ), -math.log(0.8)))
    assert abs(p[0].item() - 0.2231) < 1e-4


def test_perplexity_grows_towards_the_threshold_from_both_sides():
    below = torch.linspace(0, 0.49, 50)
    above = torch.linspace(1, 0.51, 50)
    for nu in (below, above):
        p = perplexity(nu, 0.5)
        assert torch.all(p[1:] > p[:-1])
    # the clamp d >= 1e-4 caps it
    torch.testing.assert_close(
        perplexity(torch.tensor([0.5]), 0.5),
        torch.tensor([-math.log(0.8e-4)]))
    assert perplexity(torch.tensor([0.5]), 0.5).item() < 9.44


@pytest.mark.parametrize('xi', [0.3, 0.5, 0.65])
def test_perplexity_at_most_one_iff_distance_at_least_04598(xi):
    nu = torch.linspace(0, 1, 2001, dtype=torch.float64)
    d = torch.where(nu >= xi, (nu - xi) / (1 - xi), (xi - nu) / xi)
    far = (d - math.exp(-1) / 0.8).abs() > 1e-6
    p = perplexity(nu, xi)
    assert torch.equal((p <= 1)[far], (d >= 0.4598)[far])


def test_perplexity_dual_uses_each_side_and_is_finite_in_the_band():
    lo, hi = 0.25, 0.7
    nu = torch.tensor([0.1, 0.85, 0.4])
    p = perplexity(nu, (lo, hi), lambda_alpha=0.8, lambda_beta=2.0)
    d_bg = (lo - 0.1) / lo
    d_fg = (0.85 - hi) / (1 - hi)
    torch.testing.assert_close(
        p[:2], torch.tensor([math.log(0.8 * d_bg)**2,
                             math.log(0.8 * d_fg)**2]))
    assert torch.isfinite(p[2]) and p[2] >= p[:2].max()


@pytest.mark.parametrize(
    'kwargs',
    [dict(lambda_alpha=1.0),
     dict(lambda_alpha=0.0),
     dict(lambda_beta=0.0)])
def test_perplexity_rejects_bad_lambdas(kwargs):
    with pytest.raises(ValueError, match='lambda'):
        perplexity(torch.rand(3), 0.5, **kwargs)


# property 9: SPL


def _spl_case(seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 5, 3, 4, generator=gen) * 3
    img_labels = torch.tensor([[1., 0., 0., 1.], [0., 0., 0., 0.]])
    return logits, img_labels


def test_spl_is_a_distribution_without_absent_classes():
    logits, img_labels = _spl_case()
    spl = soft_segmentation_labels(logits, img_labels)
    assert spl.shape == logits.shape
    torch.testing.assert_close(spl.sum(dim=1), torch.ones(2, 3, 4))
    assert torch.all(spl[:, 1:][img_labels == 0] < 1e-30)


def test_spl_background_is_never_masked():
    logits, img_labels = _spl_case()
    spl = soft_segmentation_labels(logits, img_labels)
    # image 1 has no class: everything is background
    torch.testing.assert_close(spl[1, 0], torch.ones(3, 4))
    logits[0, 0] = 50.
    spl = soft_segmentation_labels(logits, img_labels)
    torch.testing.assert_close(spl[0, 0], torch.ones(3, 4))


def test_spl_approaches_one_hot_of_masked_argmax():
    logits, img_labels = _spl_case(seed=1)
    masked = logits.clone()
    masked[:, 1:][img_labels == 0] = -1e5
    one_hot = torch.nn.functional.one_hot(masked.argmax(1),
                                          5).permute(0, 3, 1, 2).float()
    errors = [(soft_segmentation_labels(logits, img_labels, tau) -
               one_hot).abs().max() for tau in (1.0, 0.1, 0.001)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6
    # tau = 1 is the plain masked softmax
    torch.testing.assert_close(
        soft_segmentation_labels(logits, img_labels, 1.0),
        masked.softmax(dim=1))


def test_spl_carries_no_gradient():
    logits, img_labels = _spl_case()
    logits.requires_grad_(True)
    assert not soft_segmentation_labels(logits, img_labels).requires_grad


def test_spl_rejects_bad_input():
    logits, img_labels = _spl_case()
    with pytest.raises(ValueError, match=r'2 x 4.*\(2, 5\)'):
        soft_segmentation_labels(logits, torch.ones(2, 5))
    with pytest.raises(ValueError, match='tau'):
        soft_segmentation_labels(logits, img_labels, tau=0.0)
    with pytest.raises(ValueError, match=r'\(5, 3, 4\)'):
        soft_segmentation_labels(logits[0], img_labels)
