import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmseg_wsss.models.utils.cam import (cam_from_features, cam_to_seg_logits,
                                         mask_absent_classes, max_normalize,
                                         minmax_normalize, multiscale_cam)


def test_cam_is_classifier_at_every_position():
    feats = torch.randn(2, 8, 5, 6)
    weight = torch.randn(3, 8)
    cam = cam_from_features(feats, weight)
    assert cam.shape == (2, 3, 5, 6)
    # GAP of the CAM equals the classifier applied to GAP features
    pooled = feats.mean((2, 3)) @ weight.t()
    torch.testing.assert_close(cam.mean((2, 3)), pooled, rtol=1e-5,
                               atol=1e-5)
    torch.testing.assert_close(
        cam_from_features(feats, weight[..., None, None]), cam)


def test_max_normalize_relu_and_max_one():
    cam = torch.randn(2, 4, 7, 7)
    cam[0, 1] = -1.0  # a class with no positive evidence stays zero
    out = max_normalize(cam)
    assert out.min() >= 0
    peak = out.flatten(2).amax(2)
    assert torch.all(peak[0, 1] == 0)
    present = cam.flatten(2).amax(2) >= 0.1
    torch.testing.assert_close(peak[present], torch.ones_like(peak[present]),
                               atol=1e-4, rtol=0)


def test_minmax_normalize_range():
    cam = torch.randn(1, 3, 6, 6) * 5 + 2
    out = minmax_normalize(cam)
    flat = out.flatten(2)
    torch.testing.assert_close(flat.amin(2), torch.zeros(1, 3))
    torch.testing.assert_close(flat.amax(2), torch.ones(1, 3), atol=1e-4,
                               rtol=0)


def test_mask_absent_classes():
    cam = torch.rand(2, 3, 4, 4) + 0.1
    labels = torch.tensor([[1., 0., 1.], [0., 1., 0.]])
    out = mask_absent_classes(cam, labels)
    assert torch.all(out[0, 1] == 0) and torch.all(out[1, 0] == 0)
    torch.testing.assert_close(out[0, 0], cam[0, 0])


def test_multiscale_cam_sizes_scales_and_flip():
    calls = []

    def cam_fn(img):
        calls.append(tuple(img.shape))
        # a CAM equal to the (signed) first channel, at 1/4 resolution
        return F.avg_pool2d(img[:, :1], 4).repeat(1, 2, 1, 1)

    img = torch.randn(1, 3, 32, 48)
    out = multiscale_cam(cam_fn, img, scales=(1.0, 0.5), flip=True)
    assert out.shape == (1, 2, 32, 48)
    # one call per scale: the image and its flipped copy in one batch
    assert calls == [(2, 3, 32, 48), (2, 3, 16, 24)]
    assert out.min() >= 0  # ReLU before summing
    single = multiscale_cam(cam_fn, img, scales=(1.0, ))
    # a flip-equivariant cam_fn gives flip + unflipped == 2 x single scale
    both = multiscale_cam(cam_fn, img, scales=(1.0, ), flip=True)
    torch.testing.assert_close(both, 2 * single)


def _two_forward_multiscale_cam(cam_fn, img, scales, flip, size,
                                per_scale_norm):
    """The loop multiscale_cam had before it batched the flipped copies:
    one cam_fn call per view."""
    total = None
    for scale in scales:
        scaled_size = [max(1, round(s * scale)) for s in img.shape[2:]]
        scaled = img if scale == 1.0 else F.interpolate(
            img, size=scaled_size, mode='bilinear', align_corners=False)
        views = [(scaled, False)] + ([(scaled.flip(3), True)] if flip else [])
        for view, flipped in views:
            cam = F.relu(cam_fn(view))
            if per_scale_norm:
                cam = max_normalize(cam)
            if flipped:
                cam = cam.flip(3)
            cam = F.interpolate(
                cam, size=size, mode='bilinear', align_corners=False)
            total = cam if total is None else total + cam
    return total


@pytest.mark.parametrize('per_scale_norm', [False, True])
def test_multiscale_cam_batched_flip_equals_two_forwards(per_scale_norm):
    torch.manual_seed(0)
    # not flip-equivariant, with batch norm in eval mode: any mix-up of the
    # images, of their flipped copies or of the halves of the batch shows
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 4, (1, 3), padding=(0, 2))).eval()
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    img = torch.randn(3, 3, 29, 37)
    args = (img, (1.0, 0.5, 1.5), True, (20, 30), per_scale_norm)
    with torch.no_grad():
        expected = _two_forward_multiscale_cam(net, *args)
        out = multiscale_cam(net, *args)
    assert out.shape == (3, 4, 20, 30)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # the flipped views did count: without them the sum differs
    without_flip = multiscale_cam(net, img, (1.0, 0.5, 1.5), False, (20, 30),
                                  per_scale_norm)
    assert not torch.allclose(out, 2 * without_flip, atol=1e-3)


def test_multiscale_cam_flip_is_undone():
    # a CAM that lights up the left half of whatever image it sees
    def cam_fn(img):
        cam = torch.zeros(img.shape[0], 1, *img.shape[2:])
        cam[..., :img.shape[3] // 2] = 1.
        return cam

    out = multiscale_cam(cam_fn, torch.zeros(1, 3, 8, 8), flip=True)
    # unflipped: left half; flipped view, flipped back: right half
    torch.testing.assert_close(out, torch.ones(1, 1, 8, 8))


def test_cam_to_seg_logits_background_threshold():
    cam = torch.tensor([[[[0.1, 0.5]], [[0.15, 0.4]]]])
    logits = cam_to_seg_logits(cam, 0.2)
    assert logits.shape == (1, 3, 1, 2)
    assert logits.argmax(1).tolist() == [[[0, 1]]]
