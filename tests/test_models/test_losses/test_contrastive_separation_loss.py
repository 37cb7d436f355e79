"""ContrastiveSeparationLoss (cosa.md 2.11; property 11 of section 6)."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models.losses import ContrastiveSeparationLoss

CF = 3


def _case(seed=0, batch=2, size=(4, 4)):
    """Online CAM logits, label-masked aux CAM in [0, 1], image labels."""
    gen = torch.Generator().manual_seed(seed)
    img_labels = torch.tensor([[1., 0., 1.], [0., 1., 1.]])[:batch]
    cam = torch.randn(batch, CF, *size, generator=gen) * 2
    aux = torch.rand(batch, CF, *size, generator=gen)
    return cam, aux * img_labels[..., None, None], img_labels


def _reference(cam, aux, img_labels, xi, tau=0.1, anchors=None, contrast=None):
    """Steps 2-8 of cosa.md 2.11 token by token (valid everywhere, H = h)."""
    cam, aux = cam.double(), aux.double()
    nu, arg = aux.max(dim=1)
    labels = torch.where(nu >= xi, arg + 1, 0)
    d = torch.where(nu >= xi, (nu - xi) / (1 - xi), (xi - nu) / xi)
    omega = -torch.log(0.8 * d.clamp(1e-4, 1)) <= 1.0
    tokens = []
    for b, i, j in omega.nonzero().tolist():
        s = [
            torch.sigmoid(cam[b, c, i, j]) * img_labels[b, c]
            for c in range(CF)
        ]
        e = torch.stack([1 - max(s)] + s)
        tokens.append((e / e.norm(), int(labels[b, i, j])))
    anchors = range(len(tokens)) if anchors is None else anchors
    contrast = range(len(tokens)) if contrast is None else contrast
    losses = []
    for a in anchors:
        ea, ya = tokens[a]
        pos = [
            float(ea @ tokens[k][0]) / tau for k in contrast
            if k != a and tokens[k][1] == ya
        ]
        neg = [
            float(ea @ tokens[n][0]) / tau for n in contrast
            if tokens[n][1] != ya
        ]
        if pos and neg:
            negative = sum(math.exp(x) for x in neg)
            losses.append(-sum(
                math.log(math.exp(p) / (math.exp(p) + negative))
                for p in pos) / len(pos))
    return (sum(losses) / len(losses) if losses else 0.0), len(tokens)


def test_matches_the_formula_token_by_token():
    cam, aux, img_labels = _case()
    loss = ContrastiveSeparationLoss(
        max_anchors=64, max_contrast=64)(cam, aux, img_labels, 0.5)
    expected, _ = _reference(cam, aux, img_labels, 0.5)
    assert math.isfinite(loss.item()) and loss.item() >= 0
    assert abs(loss.item() - expected) < 1e-4 * expected


def test_sampling_draws_from_the_global_rng():
    cam, aux, img_labels = _case(seed=1, size=(6, 6))
    csc = ContrastiveSeparationLoss(max_anchors=5, max_contrast=12)
    torch.manual_seed(3)
    loss = csc(cam, aux, img_labels, 0.5)
    torch.manual_seed(3)
    assert csc(cam, aux, img_labels, 0.5).item() == loss.item()
    _, num_tokens = _reference(cam, aux, img_labels, 0.5, anchors=[])
    torch.manual_seed(3)
    order = torch.randperm(num_tokens).tolist()
    expected, _ = _reference(
        cam, aux, img_labels, 0.5, anchors=order[:5], contrast=order[:12])
    assert abs(loss.item() - expected) < 1e-4 * expected


def test_pools_the_aux_cam_and_valid_mask_to_the_token_grid():
    cam, aux, img_labels = _case(seed=2)
    aux_full = aux.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    valid = torch.ones(2, 8, 8, dtype=torch.bool)
    valid[:, 6:] = False  # token row 3 outside
    valid[:, 5] = False  # token row 2 half inside: kept
    csc = ContrastiveSeparationLoss()
    pooled = csc(cam[:, :, :3], aux[:, :, :3], img_labels, 0.5)
    torch.testing.assert_close(
        csc(cam, aux_full, img_labels, 0.5, valid), pooled)


def test_invariant_to_token_order():
    cam, aux, img_labels = _case(seed=3)
    valid = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(0))
    valid = valid > 0.2
    csc = ContrastiveSeparationLoss(max_anchors=100, max_contrast=100)
    loss = csc(cam, aux, img_labels, 0.4, valid)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))

    def shuffle(x):
        return x.flatten(-2)[..., perm].unflatten(-1, (4, 4))

    shuffled = csc(shuffle(cam), shuffle(aux), img_labels, 0.4, shuffle(valid))
    torch.testing.assert_close(shuffled, loss)
    swapped = csc(
        cam.flip(0), aux.flip(0), img_labels.flip(0), 0.4, valid.flip(0))
    torch.testing.assert_close(swapped, loss)


def test_decreases_when_classes_are_separated():
    img_labels = torch.tensor([[1., 1., 0.]])
    region = torch.zeros(1, 4, 4, dtype=torch.long)  # background
    region[0, :2, :2] = 1
    region[0, 2:, 2:] = 2
    one_hot = F.one_hot(region, CF + 1).permute(0, 3, 1, 2)[:, 1:].float()
    aux = 0.02 + 0.93 * one_hot * img_labels[..., None, None]
    csc = ContrastiveSeparationLoss()
    random_cam = torch.randn(
        1, CF, 4, 4, generator=torch.Generator().manual_seed(0))
    separated = 20 * one_hot - 10  # sigma: ~1 on its class, ~0 elsewhere
    loss_random = csc(random_cam, aux, img_labels, 0.5)
    loss_separated = csc(separated, aux, img_labels, 0.5)
    assert loss_separated < 0.5 * loss_random
    assert loss_separated >= 0


def test_gradient_reaches_the_cam_only():
    cam, aux, img_labels = _case(seed=4)
    cam.requires_grad_(True)
    aux.requires_grad_(True)
    loss = ContrastiveSeparationLoss()(cam, aux, img_labels, 0.5)
    loss.backward()
    assert aux.grad is None
    assert cam.grad.abs().sum() > 0 and torch.isfinite(cam.grad).all()
    # absent classes take no part in the embedding
    absent = (img_labels == 0)[..., None, None].expand_as(cam)
    assert torch.all(cam.grad[absent] == 0)


def _assert_zero_in_graph(loss, cam):
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.all(cam.grad == 0)


def test_empty_omega_gives_zero_in_the_graph():
    cam, _, img_labels = _case(seed=5)
    cam.requires_grad_(True)
    aux = torch.full((2, CF, 4, 4), 0.5)  # every token at the threshold
    _assert_zero_in_graph(
        ContrastiveSeparationLoss()(cam, aux, img_labels, 0.5), cam)


def test_one_class_gives_zero_in_the_graph():
    cam, _, img_labels = _case(seed=6)
    cam.requires_grad_(True)
    aux = torch.full((2, CF, 4, 4), 0.01)  # all confident background
    _assert_zero_in_graph(
        ContrastiveSeparationLoss()(cam, aux, img_labels, 0.5), cam)


def test_tiny_valid_box_and_dual_threshold_are_finite():
    cam, aux, img_labels = _case(seed=7)
    cam.requires_grad_(True)
    aux_full = aux.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    valid = torch.zeros(2, 8, 8, dtype=torch.bool)
    valid[:, :1, :1] = True  # no token half inside
    csc = ContrastiveSeparationLoss()
    _assert_zero_in_graph(csc(cam, aux_full, img_labels, 0.5, valid), cam)
    valid[:, :4, :4] = True  # four tokens per image
    loss = csc(cam, aux_full, img_labels, (0.25, 0.7), valid)
    assert torch.isfinite(loss) and loss >= 0


def test_builds_from_the_registry():
    loss = MODELS.build(dict(type='ContrastiveSeparationLoss', tau=0.2))
    assert loss.tau == 0.2 and loss.loss_name == 'loss_csc'


def test_bad_input_raises():
    cam, aux, img_labels = _case()
    csc = ContrastiveSeparationLoss()
    with pytest.raises(ValueError, match=r'\(2, 3, 4, 4\).*\(2, 2, 4, 4\)'):
        csc(cam, aux[:, :2], img_labels, 0.5)
    with pytest.raises(ValueError, match=r'img_labels \(2, 4\)'):
        csc(cam, aux, torch.ones(2, 4), 0.5)
    with pytest.raises(ValueError, match=r'\(2, 4, 4\).*\(2, 8, 8\)'):
        csc(cam, aux, img_labels, 0.5, torch.ones(2, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match='threshold'):
        csc(cam, aux, img_labels, 1.5)
    with pytest.raises(ValueError, match='tau'):
        ContrastiveSeparationLoss(tau=0.0)
    with pytest.raises(ValueError, match='max_anchors'):
        ContrastiveSeparationLoss(max_anchors=0)
