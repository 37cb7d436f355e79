"""Class-balanced CE with its gate (wsfcn.md 2.10; property P9)."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_wsss.models.losses import ClassBalancedCELoss

C = 4  # background + 3 classes


def _reference(logits, label, img_labels):
    """wsfcn.md 2.10 pixel by pixel."""
    total = 0.0
    for b in range(len(label)):
        flat = label[b].flatten().tolist()
        counts = {c: flat.count(c) for c in range(C)}
        n = sum(counts.values())
        present = sum(1 for v in counts.values() if v > 0)
        if present != int(img_labels[b].sum()) + 1:
            continue
        ce = F.cross_entropy(logits[b:b + 1], label[b:b + 1].clamp(max=C - 1),
                             reduction='none')[0].flatten()
        total += sum((n - counts[y]) / (1 + n) * float(ce[i])
                     for i, y in enumerate(flat) if y != 255) / len(flat)
    return total / len(label)


def test_matches_the_formula_per_pixel():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, C, 5, 6, generator=gen)
    label = torch.randint(0, 3, (3, 5, 6), generator=gen)  # classes 0, 1, 2
    label[:, 0, :2] = 255
    label[1, 2:4, 2:4] = 3
    img_labels = torch.tensor([[1., 1., 0.], [1., 1., 1.], [1., 1., 1.]])
    # image 2 lacks class 3: gated
    loss = ClassBalancedCELoss()(logits, label, img_labels)
    torch.testing.assert_close(loss.item(),
                               _reference(logits, label, img_labels))


def test_gate_zero_when_a_labelled_class_is_missing():
    logits = torch.randn(1, C, 4, 4, requires_grad=True)
    label = torch.zeros(1, 4, 4, dtype=torch.long)
    label[0, :2] = 1  # class 2 is labelled but absent from the label map
    loss = ClassBalancedCELoss()(logits, label, torch.tensor([[1., 1., 0.]]))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_equal_areas_give_equal_weights():
    label = torch.zeros(1, 4, 6, dtype=torch.long)
    label[0, :, 3:] = 2
    n = label.numel()
    loss = ClassBalancedCELoss()(torch.zeros(1, C, 4, 6), label,
                                 torch.tensor([[0., 1., 0.]]))
    # uniform logits: CE = log C everywhere, weight N / (2 (1 + N))
    expect = n / (2 * (1 + n)) * math.log(C)
    torch.testing.assert_close(loss.item(), expect)


def test_ignored_pixels_count_in_the_mean():
    label = torch.full((1, 4, 6), 255, dtype=torch.long)
    label[0, 1, :] = 0
    label[0, 2, :] = 1
    n_valid, n_all = 12, 24
    loss = ClassBalancedCELoss(loss_weight=2.0)(torch.zeros(1, C, 4, 6),
                                                label,
                                                torch.tensor([[1., 0., 0.]]))
    weight = 6 / (1 + n_valid)
    expect = 2.0 * n_valid * weight * math.log(C) / n_all
    torch.testing.assert_close(loss.item(), expect)


def test_registered_and_checked():
    loss = MODELS.build(dict(type='ClassBalancedCELoss'))
    assert loss.loss_name == 'loss_seg' and loss.loss_weight == 1.0
    assert MODELS.build(dict(type='ClassBalancedCELoss',
                             loss_name='loss_x')).loss_name == 'loss_x'
    with pytest.raises(ValueError):
        loss(torch.zeros(1, C, 4, 4), torch.zeros(1, 3, 4, dtype=torch.long),
             torch.zeros(1, C - 1))
    with pytest.raises(ValueError):
        loss(torch.zeros(1, C, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long),
             torch.zeros(1, C))


def test_half_precision_logits_count_in_float32():
    """A 260 x 260 label map has more pixels than float16's maximum."""
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 2, 260, 260, generator=gen).half()
    label = torch.zeros(1, 260, 260, dtype=torch.long)
    label[0, :, 131:] = 1
    loss = ClassBalancedCELoss()
    img_labels = torch.ones(1, 1)
    torch.testing.assert_close(
        loss(logits, label, img_labels).float(),
        loss(logits.float(), label, img_labels), rtol=1e-3, atol=0)
