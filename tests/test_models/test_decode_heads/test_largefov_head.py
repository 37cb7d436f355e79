import torch

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
