import pytest
import torch
import torch.nn as nn

from mmseg_wsss.models.decode_heads import LargeFOVHead


def test_largefov_shapes_and_layers():
    head = LargeFOVHead(
        in_channels=8, channels=16, num_classes=5, dilation=3)
    assert head.fc6.conv.dilation == (3, 3) and head.fc6.conv.padding == (3,
                                                                           3)
    assert head.fc7.conv.kernel_size == (1, 1)
    out = head((torch.randn(2, 8, 9, 9), ))
    assert out.shape == (2, 5, 9, 9)
    assert head.conv_seg.bias is not None
    no_bias = LargeFOVHead(
        in_channels=8, channels=16, num_classes=5, conv_seg_bias=False)
    assert no_bias.conv_seg.bias is None


def test_largefov_receptive_field_follows_dilation():
    head = LargeFOVHead(
        in_channels=1, channels=4, num_classes=2, dilation=4,
        fc_dropout_ratio=0., dropout_ratio=0.).eval()
    x = torch.zeros(1, 1, 13, 13)
    base = head((x, ))
    x[0, 0, 6, 10] = 10.  # 4 pixels right of the centre
    changed = (head((x, )) - base).abs().sum(1)[0]
    # the centre sees the impulse (a dilated tap), its neighbour does not
    assert changed[6, 6] > 0
    assert changed[6, 7] == 0


def test_largefov_cosa_decoder():
    """cosa.md §2.4: 3x3 dil 5 -> ReLU -> 3x3 dil 5 -> ReLU -> 1x1, no
    bias, no norm, no dropout; 5,908,992 parameters at 768 -> 512 -> 21."""
    head = LargeFOVHead(
        in_channels=768, channels=512, num_classes=21, dilation=5,
        fc7_kernel_size=3, conv_bias=False, fc_dropout_ratio=0.,
        dropout_ratio=0., conv_seg_bias=False, norm_cfg=None)
    for conv in (head.fc6.conv, head.fc7.conv):
        assert conv.kernel_size == (3, 3) and conv.dilation == (5, 5)
        assert conv.padding == (5, 5) and conv.bias is None
    assert head.dropout is None and isinstance(head.fc6_dropout, nn.Identity)
    assert sum(p.numel() for p in head.parameters()) == 5_908_992

    small = LargeFOVHead(
        in_channels=1, channels=4, num_classes=2, dilation=2,
        fc7_kernel_size=3, conv_bias=False, fc_dropout_ratio=0.,
        dropout_ratio=0.).eval()
    x = torch.zeros(1, 1, 13, 13)
    base = small((x, ))
    assert base.shape == (1, 2, 13, 13)
    x[0, 0, 6, 10] = 10.  # two dilated taps (2 + 2) right of the centre
    changed = (small((x, )) - base).abs().sum(1)[0]
    assert changed[6, 6] > 0 and changed[6, 7] == 0


@pytest.mark.parametrize('torch_default_init', [False, True])
def test_largefov_init(torch_default_init):
    """cosa.md §2.4: with ``torch_default_init`` the convs keep PyTorch's
    default, uniform within 1 / sqrt(fan_in) (std bound / sqrt(3));
    otherwise mmseg's: Kaiming normal (fan_out) and Normal(0.01)."""
    torch.manual_seed(0)
    head = LargeFOVHead(
        in_channels=64, channels=128, num_classes=21, dilation=2,
        fc7_kernel_size=3, conv_bias=False, conv_seg_bias=False,
        norm_cfg=None, torch_default_init=torch_default_init)
    head.init_weights()
    for conv in (head.fc6.conv, head.fc7.conv, head.conv_seg):
        weight = conv.weight.detach()
        fan_in = weight[0].numel()
        if torch_default_init:
            bound = fan_in**-0.5
            assert weight.abs().max() <= bound
            assert weight.std() == pytest.approx(bound / 3**0.5, rel=0.1)
        elif conv is head.conv_seg:
            assert weight.std() == pytest.approx(0.01, rel=0.1)
        else:
            fan_out = weight.shape[0] * weight[0, 0].numel()
            assert weight.std() == pytest.approx((2 / fan_out)**0.5,
                                                 rel=0.1)


def test_largefov_rejects_bad_fc7_kernel():
    with pytest.raises(ValueError, match='fc7_kernel_size must be 1 or 3'):
        LargeFOVHead(in_channels=8, channels=16, num_classes=5,
                     fc7_kernel_size=5)


@pytest.mark.parametrize('value', ['True', 1, None])
def test_largefov_rejects_non_bool_torch_default_init(value):
    with pytest.raises(ValueError, match='torch_default_init must be a bool'):
        LargeFOVHead(in_channels=8, channels=16, num_classes=5,
                     torch_default_init=value)
