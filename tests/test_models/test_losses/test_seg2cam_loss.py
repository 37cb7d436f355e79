"""Seg2CAMLoss (cosa.md 2.10; property 10 of section 6)."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models.losses import Seg2CAMLoss
from mmseg_wsss.pseudo_labels import soft_segmentation_labels

CF = 3  # foreground classes


def _spl(seed=0, size=(8, 8)):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, CF + 1, *size, generator=gen)
    return soft_segmentation_labels(logits, torch.ones(2, CF), tau=1.0)


def _bce(cam, target, mask):
    """The spec's formula, by hand."""
    p = cam.sigmoid()
    ll = target * p.log() + (1 - target) * (1 - p).log()
    return -(ll.sum(dim=1) * mask).sum() / (CF * mask.sum())


def test_token_resolution_matches_the_formula():
    spl = _spl()
    cam = torch.randn(2, CF, 4, 4)
    valid = torch.zeros(2, 8, 8, dtype=torch.bool)
    valid[:, :5, :6] = True  # token rows 0-2 (row 2 half inside), cols 0-2
    loss = Seg2CAMLoss()(cam, spl, valid)
    target = F.interpolate(
        spl[:, 1:], size=(4, 4), mode='bilinear', align_corners=False)
    tokens = torch.zeros(2, 4, 4)
    tokens[:, :3, :3] = 1
    torch.testing.assert_close(loss, _bce(cam, target, tokens))


def test_full_resolution_matches_the_formula():
    spl = _spl(seed=1)
    cam = torch.randn(2, CF, 4, 4)
    valid = torch.rand(2, 8, 8) > 0.3
    loss = Seg2CAMLoss(resolution='full', loss_weight=0.5)(cam, spl, valid)
    up = F.interpolate(cam, size=(8, 8), mode='bilinear', align_corners=False)
    torch.testing.assert_close(loss, 0.5 * _bce(up, spl[:, 1:], valid.float()))


def test_background_channel_is_unused():
    spl = _spl(seed=2)
    cam = torch.randn(2, CF, 4, 4)
    other = spl.clone()
    other[:, 0] = 0.3
    torch.testing.assert_close(Seg2CAMLoss()(cam, other),
                               Seg2CAMLoss()(cam, spl))


def test_gradient_is_zero_where_the_cam_matches_the_labels():
    spl = _spl(seed=3, size=(4, 4))
    cam = torch.logit(spl[:, 1:]).requires_grad_(True)
    loss = Seg2CAMLoss()(cam, spl)
    loss.backward()
    torch.testing.assert_close(
        cam.grad, torch.zeros_like(cam), atol=1e-7, rtol=0)
    # a minimum: any perturbation raises the loss
    for seed in range(3):
        noise = torch.randn(
            cam.shape, generator=torch.Generator().manual_seed(seed))
        assert Seg2CAMLoss()(cam.detach() + 0.1 * noise, spl) > loss


def test_relu_before_sigmoid_blocks_negative_cams():
    spl = _spl(seed=4)
    cam = (-torch.rand(2, CF, 4, 4) - 0.1).requires_grad_(True)
    loss = Seg2CAMLoss(relu_before_sigmoid=True)(cam, spl)
    loss.backward()
    assert torch.all(cam.grad == 0)
    # sigma(relu(M)) = 0.5 everywhere: the loss is log 2
    torch.testing.assert_close(loss, torch.log(torch.tensor(2.)))
    cam.grad = None
    Seg2CAMLoss()(cam, spl).backward()
    assert cam.grad.abs().sum() > 0


def test_no_gradient_reaches_the_labels():
    spl = _spl(seed=5).requires_grad_(True)
    cam = torch.randn(2, CF, 4, 4, requires_grad=True)
    Seg2CAMLoss()(cam, spl).backward()
    assert spl.grad is None and cam.grad is not None


@pytest.mark.parametrize('resolution', ['token', 'full'])
def test_no_valid_position_gives_zero_in_the_graph(resolution):
    spl = _spl(seed=6)
    cam = torch.randn(2, CF, 4, 4, requires_grad=True)
    valid = torch.zeros(2, 8, 8, dtype=torch.bool)
    loss = Seg2CAMLoss(resolution=resolution)(cam, spl, valid)
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.all(cam.grad == 0)


def test_tiny_valid_box_is_finite():
    spl = _spl(seed=7)
    cam = torch.randn(2, CF, 4, 4, requires_grad=True)
    valid = torch.zeros(2, 8, 8, dtype=torch.bool)
    valid[:, :1, :1] = True  # a quarter of one patch: no token
    assert Seg2CAMLoss()(cam, spl, valid).item() == 0
    valid[:, :2, :1] = True  # half of one patch: one token
    loss = Seg2CAMLoss()(cam, spl, valid)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert torch.count_nonzero(cam.grad.abs().sum(dim=1)) == 2


def test_builds_from_the_registry():
    loss = MODELS.build(dict(type='Seg2CAMLoss', relu_before_sigmoid=True))
    assert isinstance(loss, Seg2CAMLoss) and loss.loss_name == 'loss_s2c'


def test_bad_input_raises():
    spl = _spl()
    with pytest.raises(ValueError, match=r'\(2, 4, 8, 8\).*\(2, 4, 4, 4\)'):
        Seg2CAMLoss()(torch.randn(2, 4, 4, 4), spl)
    with pytest.raises(ValueError, match=r'\(2, 8, 8\).*\(2, 4, 4\)'):
        Seg2CAMLoss()(torch.randn(2, CF, 4, 4), spl,
                      torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match='resolution'):
        Seg2CAMLoss(resolution='pixel')
