import pytest
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from mmseg_wsss.models.decode_heads import CAMHead

LOSS = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_cls')


def _samples(labels):
    samples = []
    for row in labels:
        sample = SegDataSample()
        sample.set_data(dict(gt_img_labels=torch.tensor(row).float()))
        samples.append(sample)
    return samples


def test_cam_head_logits_cams_and_loss():
    head = CAMHead(in_channels=16, num_classes=5, loss_decode=LOSS).eval()
    assert head.conv_seg.bias is None
    assert head.conv_seg.out_channels == 4  # foreground classes only
    feats = (torch.randn(2, 16, 6, 6), )
    logits = head(feats)
    assert logits.shape == (2, 4)
    cam = head.cam(feats)
    assert cam.shape == (2, 4, 6, 6)
    # GAP classifier: logits are the spatial mean of the raw CAMs
    torch.testing.assert_close(cam.mean((2, 3)), logits, rtol=1e-5,
                               atol=1e-5)
    labels = [[1, 0, 0, 1], [0, 1, 1, 0]]
    losses = head.loss_by_feat(logits, _samples(labels))
    expected = F.multilabel_soft_margin_loss(logits,
                                             torch.tensor(labels).float())
    torch.testing.assert_close(losses['loss_cls'], expected)
    assert 0 <= losses['acc_cls'] <= 100


def test_cam_head_max_pool():
    head = CAMHead(
        in_channels=4, num_classes=3, pool='max', loss_decode=LOSS).eval()
    feats = (torch.randn(1, 4, 5, 5), )
    expected = head.conv_seg(F.adaptive_max_pool2d(feats[0], 1)).flatten(1)
    torch.testing.assert_close(head(feats), expected)


def test_cam_head_errors():
    with pytest.raises(ValueError, match='pool'):
        CAMHead(in_channels=4, num_classes=3, pool='sum', loss_decode=LOSS)
    head = CAMHead(in_channels=4, num_classes=3, loss_decode=LOSS)
    with pytest.raises(KeyError, match='gt_img_labels'):
        head.loss_by_feat(torch.zeros(1, 2), [SegDataSample()])
