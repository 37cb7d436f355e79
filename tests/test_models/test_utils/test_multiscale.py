import pytest
import torch
import torch.nn.functional as F

from mmseg_wsss.models.utils.multiscale import (multiscale_flip, rescale,
                                                sum_views)


def _recording(calls):
    """fn that records its input and returns it (an 'identity network')."""

    def fn(images):
        calls.append(images)
        return images

    return fn


def test_one_call_per_scale_with_the_flipped_copies_batched():
    img = torch.randn(2, 3, 8, 12)
    calls, reduced = [], []

    def reduce(acc, views):
        reduced.append(views)
        return len(reduced)

    out = multiscale_flip(_recording(calls), img, reduce, (1.0, 0.5), True)
    assert out == 2  # the last acc
    assert [tuple(c.shape) for c in calls] == [(4, 3, 8, 12), (4, 3, 4, 6)]
    # first half the images, second half their horizontal flips
    torch.testing.assert_close(calls[0][:2], img)
    torch.testing.assert_close(calls[0][2:], img.flip(3))
    torch.testing.assert_close(calls[1][:2], rescale(img, 0.5))
    torch.testing.assert_close(calls[1][2:], rescale(img, 0.5).flip(3))
    # views: V x B x C x size, the flipped view flipped back
    for views in reduced:
        assert views.shape == (2, 2, 3, 8, 12)
    torch.testing.assert_close(reduced[0][0], img)
    torch.testing.assert_close(reduced[0][1], img)
    upsampled = F.interpolate(
        rescale(img, 0.5), (8, 12), mode='bilinear', align_corners=False)
    torch.testing.assert_close(reduced[1][0], upsampled)
    torch.testing.assert_close(reduced[1][1], upsampled)


def test_without_flip_scale_one_passes_the_input_itself():
    img = torch.randn(1, 3, 5, 7)
    calls = []
    views = multiscale_flip(
        _recording(calls), img, lambda acc, v: v, (1.0, ), False)
    assert calls[0] is img
    assert views.shape == (1, 1, 3, 5, 7)
    torch.testing.assert_close(views[0], img)


def test_reduce_order_size_and_acc():
    img = torch.ones(1, 1, 4, 4)
    seen = []

    def fn(images):
        # a map that tells the scales apart: its width
        return torch.full_like(images, float(images.shape[3]))

    def reduce(acc, views):
        seen.append(views[0, 0, 0, 0, 0].item())
        return sum_views(acc, views)

    total = multiscale_flip(fn, img, reduce, (2.0, 1.0), True, size=(3, 5))
    assert seen == [8.0, 4.0]  # in the order of scales
    assert total.shape == (1, 1, 3, 5)
    torch.testing.assert_close(total, torch.full((1, 1, 3, 5), 24.))


def test_sum_views_starts_from_none():
    views = torch.arange(6.).reshape(3, 1, 2, 1, 1)
    torch.testing.assert_close(sum_views(None, views), views.sum(0))
    torch.testing.assert_close(
        sum_views(torch.ones(1, 2, 1, 1), views), views.sum(0) + 1)


def test_rescale_sizes():
    img = torch.randn(1, 3, 9, 10)
    assert rescale(img, 1.0) is img
    assert rescale(img, 0.5).shape == (1, 3, 4, 5)  # round(4.5) == 4
    assert rescale(img, 0.01).shape == (1, 3, 1, 1)


def test_empty_scales_raise():
    with pytest.raises(ValueError, match='scales'):
        multiscale_flip(lambda x: x, torch.zeros(1, 3, 2, 2), sum_views, ())
