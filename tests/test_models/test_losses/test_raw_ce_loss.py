"""RAWCrossEntropyLoss (cosa.md 2.8; property 7 of section 6)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models.losses import RAWCrossEntropyLoss
from mmseg_wsss.pseudo_labels import cam_pseudo_labels, perplexity

C = 4
IGN = 255


def _case(seed=0, shape=(2, 5, 6)):
    """Logits, CPL labels (with an invalid border) and their confidence."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape[0], C, *shape[1:], generator=gen)
    cam = torch.rand(shape[0], C - 1, *shape[1:], generator=gen)
    valid = torch.ones(shape, dtype=torch.bool)
    valid[:, -1] = False
    label, nu = cam_pseudo_labels(cam, 0.5, valid)
    return logits, label, nu


def test_weights_are_normalised_reciprocal_perplexities():
    _, label, nu = _case()
    loss = RAWCrossEntropyLoss()
    w = loss.pixel_weights(label, confidence=nu, threshold=0.5)
    region = label != IGN
    assert torch.all(w >= 0) and torch.all(w[~region] == 0)
    torch.testing.assert_close(
        w[region].mean(), torch.tensor(1.), atol=1e-5, rtol=0)
    r = 1 / perplexity(nu, 0.5)
    torch.testing.assert_close(w[region], r[region] / r[region].mean())


def test_weights_grow_with_the_distance_to_the_threshold():
    nu = torch.tensor([[[0.0, 0.12, 0.33, 0.46, 0.52, 0.61, 0.87, 0.95]]])
    label = (nu >= 0.5).long()
    w = RAWCrossEntropyLoss().pixel_weights(
        label, confidence=nu, threshold=0.5)[0, 0]
    distance = (nu[0, 0] - 0.5).abs() / 0.5
    order = distance.argsort()
    assert torch.all(w[order][1:] > w[order][:-1])


def test_loss_is_reliability_weighted_mean_ce():
    logits, label, nu = _case(seed=1)
    loss = RAWCrossEntropyLoss(loss_weight=2.0)(
        logits, label, confidence=nu, threshold=0.5)
    region = label != IGN
    ce = F.cross_entropy(logits, label, ignore_index=IGN, reduction='none')
    r = 1 / perplexity(nu, 0.5)
    expected = 2.0 * (r * ce)[region].sum() / r[region].sum()
    torch.testing.assert_close(loss, expected)


def test_equal_perplexities_give_plain_mean_ce():
    logits, label, _ = _case(seed=2)
    # nu in {0, 1} everywhere: P = -log 0.8 for every pixel
    nu = (label > 0).float()
    loss = RAWCrossEntropyLoss()(logits, label, confidence=nu, threshold=0.5)
    plain = F.cross_entropy(logits, label, ignore_index=IGN)
    torch.testing.assert_close(loss, plain)
    torch.testing.assert_close(RAWCrossEntropyLoss()(logits, label), plain)


def test_ignored_pixels_change_nothing():
    logits, label, nu = _case(seed=3)
    raw = RAWCrossEntropyLoss()
    loss = raw(logits, label, confidence=nu, threshold=0.5)
    ignored = label == IGN
    other_logits = logits.clone()
    other_logits[ignored.unsqueeze(1).expand_as(logits)] = 100.
    other_nu = nu.clone()
    other_nu[ignored] = 0.5
    torch.testing.assert_close(
        raw(other_logits, label, confidence=other_nu, threshold=0.5), loss)
    w = raw.pixel_weights(label, confidence=nu, threshold=0.5)
    assert torch.all(w[ignored] == 0)


def test_dual_threshold_band_pixels_are_ignored():
    logits, _, _ = _case(seed=4)
    cam = torch.rand(
        2, C - 1, 5, 6, generator=torch.Generator().manual_seed(4))
    label, nu = cam_pseudo_labels(cam, (0.25, 0.7))
    raw = RAWCrossEntropyLoss()
    w = raw.pixel_weights(label, confidence=nu, threshold=(0.25, 0.7))
    band = (nu >= 0.25) & (nu < 0.7)
    assert band.any() and torch.all(w[band] == 0)
    assert torch.isfinite(
        raw(logits, label, confidence=nu, threshold=(0.25, 0.7)))


def test_given_weight_is_renormalised_and_takes_precedence():
    logits, label, nu = _case(seed=5)
    weight = torch.rand(
        label.shape, generator=torch.Generator().manual_seed(0))
    raw = RAWCrossEntropyLoss()
    loss = raw(logits, label, weight=weight)
    torch.testing.assert_close(raw(logits, label, weight=7 * weight), loss)
    torch.testing.assert_close(
        raw(logits, label, weight=weight, confidence=nu, threshold=0.5), loss)
    region = label != IGN
    ce = F.cross_entropy(logits, label, ignore_index=IGN, reduction='none')
    torch.testing.assert_close(loss, (weight * ce)[region].sum() /
                               weight[region].sum())


def test_weights_carry_no_gradient():
    logits, label, nu = _case(seed=6)
    logits.requires_grad_(True)
    nu.requires_grad_(True)
    RAWCrossEntropyLoss()(
        logits, label, confidence=nu, threshold=0.5).backward()
    assert nu.grad is None and logits.grad is not None


def test_empty_region_gives_zero_in_the_graph():
    logits = torch.randn(2, C, 3, 3, requires_grad=True)
    label = torch.full((2, 3, 3), IGN)
    loss = RAWCrossEntropyLoss()(
        logits, label, confidence=torch.rand(2, 3, 3), threshold=0.5)
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_no_pixel_above_threshold_is_finite():
    logits = torch.randn(1, C, 4, 4)
    label, nu = cam_pseudo_labels(torch.full((1, C - 1, 4, 4), 0.2), 0.5)
    loss = RAWCrossEntropyLoss()(logits, label, confidence=nu, threshold=0.5)
    torch.testing.assert_close(loss, F.cross_entropy(logits, label))


def test_reduction_none_is_the_weighted_pixel_loss():
    logits, label, nu = _case(seed=7)
    raw = RAWCrossEntropyLoss()
    per_pixel = raw(
        logits, label, confidence=nu, threshold=0.5, reduction_override='none')
    assert per_pixel.shape == label.shape
    torch.testing.assert_close(
        per_pixel.sum() / (label != IGN).sum(),
        raw(logits, label, confidence=nu, threshold=0.5))


def test_bad_input_raises():
    logits, label, nu = _case()
    raw = RAWCrossEntropyLoss()
    with pytest.raises(ValueError, match=r'\(2, 4, 5, 6\).*\(2, 5, 5\)'):
        raw(logits, label[:, :, :5])
    with pytest.raises(ValueError, match='together'):
        raw(logits, label, confidence=nu)
    with pytest.raises(ValueError, match=r'weight must be \(2, 5, 6\)'):
        raw(logits, label, weight=torch.ones(2, 1, 5, 6))
    with pytest.raises(ValueError, match='threshold'):
        raw(logits, label, confidence=nu, threshold=1.0)
    with pytest.raises(ValueError, match='reduction_override'):
        raw(logits, label, reduction_override='sum')


def _stock_head(**kwargs):
    return MODELS.build(
        dict(
            type='FCNHead',
            in_channels=3,
            channels=4,
            num_convs=1,
            num_classes=C,
            loss_decode=dict(type='RAWCrossEntropyLoss'),
            **kwargs))


def _samples(label):
    samples = []
    for seg in label:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=seg[None])
        samples.append(sample)
    return samples


def test_as_loss_decode_of_a_stock_head():
    _, label, _ = _case(seed=8, shape=(2, 8, 8))
    head = _stock_head()
    seg_logits = torch.randn(2, C, 4, 4, requires_grad=True)
    losses = head.loss_by_feat(seg_logits, _samples(label))
    up = F.interpolate(
        seg_logits, size=(8, 8), mode='bilinear', align_corners=False)
    torch.testing.assert_close(losses['loss_c2s'],
                               F.cross_entropy(up, label, ignore_index=IGN))
    losses['loss_c2s'].backward()
    assert seg_logits.grad.abs().sum() > 0


@pytest.mark.parametrize('thresh', [0.7, None])
def test_with_a_stock_pixel_sampler(thresh):
    _, label, _ = _case(seed=9, shape=(2, 8, 8))
    head = _stock_head(
        sampler=dict(type='OHEMPixelSampler', thresh=thresh, min_kept=10))
    seg_logits = torch.randn(2, C, 8, 8)
    kept = head.sampler.sample(seg_logits, label[:, None]) > 0
    losses = head.loss_by_feat(seg_logits, _samples(label))
    ce = F.cross_entropy(seg_logits, label, ignore_index=IGN, reduction='none')
    torch.testing.assert_close(losses['loss_c2s'], ce[kept].mean())
