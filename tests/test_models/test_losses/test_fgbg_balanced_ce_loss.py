"""FgBgBalancedCELoss (cosa.md 2.13, the released-code c2s loss)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models.losses import FgBgBalancedCELoss

C = 4
IGN = 255


def _case(seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, C, 5, 6, generator=gen)
    label = torch.randint(0, C, (2, 5, 6), generator=gen)
    label[:, -1] = IGN
    return logits, label


def test_matches_the_formula():
    logits, label = _case()
    loss = FgBgBalancedCELoss(loss_weight=2.0)(logits, label)
    ce = F.cross_entropy(logits, label, ignore_index=IGN, reduction='none')
    bg, fg = label == 0, (label > 0) & (label != IGN)
    expected = 2.0 * 0.5 * (ce[bg].mean() + ce[fg].mean())
    torch.testing.assert_close(loss, expected)


def test_background_and_foreground_weigh_the_same_whatever_their_area():
    logits = torch.zeros(1, C, 4, 4)
    logits[0, 0] = 2.0  # bg pixels: low CE, fg pixels: high CE
    label = torch.zeros(1, 4, 4, dtype=torch.long)
    label[0, 0, 0] = 1  # one foreground pixel
    ce = F.cross_entropy(logits, label, reduction='none')[0]
    loss = FgBgBalancedCELoss()(logits, label)
    torch.testing.assert_close(loss, 0.5 * (ce[0, 1] + ce[0, 0]))
    assert loss > F.cross_entropy(logits, label)


def test_ignored_pixels_change_nothing():
    logits, label = _case(seed=1)
    other = logits.clone()
    other[(label == IGN).unsqueeze(1).expand_as(logits)] = 50.
    torch.testing.assert_close(FgBgBalancedCELoss()(other, label),
                               FgBgBalancedCELoss()(logits, label))


def test_one_side_missing_or_nothing_labelled_is_finite():
    logits, _ = _case(seed=2)
    logits.requires_grad_(True)
    background = torch.zeros(2, 5, 6, dtype=torch.long)
    ce = F.cross_entropy(logits, background)
    torch.testing.assert_close(FgBgBalancedCELoss()(logits, background),
                               0.5 * ce)
    loss = FgBgBalancedCELoss()(logits, torch.full((2, 5, 6), IGN))
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_as_loss_decode_of_a_stock_head():
    logits, label = _case(seed=3)
    head = MODELS.build(
        dict(
            type='FCNHead',
            in_channels=3,
            channels=4,
            num_convs=1,
            num_classes=C,
            loss_decode=dict(type='FgBgBalancedCELoss')))
    samples = []
    for seg in label:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=seg[None])
        samples.append(sample)
    losses = head.loss_by_feat(logits, samples)
    torch.testing.assert_close(losses['loss_c2s'],
                               FgBgBalancedCELoss()(logits, label))


def test_bad_input_raises():
    logits, label = _case()
    with pytest.raises(ValueError, match=r'\(2, 4, 5, 6\).*\(2, 5, 5\)'):
        FgBgBalancedCELoss()(logits, label[:, :, :5])
    with pytest.raises(ValueError, match='weight'):
        FgBgBalancedCELoss()(logits, label, weight=torch.ones(2, 5, 6))
