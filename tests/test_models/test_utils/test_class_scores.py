"""nGWP scores and the focal mask penalty (wsfcn.md 2.8; property P7)."""
import math
import warnings

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_wsss.models.utils.class_scores import (focal_mask_penalty,
                                                  mask_class_scores,
                                                  ngwp_scores)


def test_ngwp_of_constant_logits_and_uniform_masks():
    h, w, a, q = 5, 7, 2.5, 0.3
    logits = torch.full((1, 2, h, w), a)
    masks = torch.full((1, 2, h, w), q)
    expect = a * h * w * q / (1 + h * w * q)
    torch.testing.assert_close(ngwp_scores(logits, masks),
                               torch.full((1, 2), expect))


def test_ngwp_is_a_convex_combination_with_zero():
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(3, 4, 6, 6, generator=gen)
    for logits in (torch.randn(3, 4, 6, 6, generator=gen) * 4,
                   torch.rand(3, 4, 6, 6, generator=gen) + 1,
                   -torch.rand(3, 4, 6, 6, generator=gen) - 1):
        scores = ngwp_scores(logits, masks)
        flat = logits.flatten(2)
        assert torch.all(scores >= flat.amin(2).clamp(max=0) - 1e-6)
        assert torch.all(scores <= flat.amax(2).clamp(min=0) + 1e-6)
    # a nearly empty mask pulls the score towards 0, not to its logit
    small = ngwp_scores(torch.full((1, 1, 4, 4), 5.),
                        torch.full((1, 1, 4, 4), 1e-3))
    assert 0 < small.item() < 0.1


def test_focal_penalty_values_and_shape():
    empty = torch.zeros(2, 3, 4, 4)
    torch.testing.assert_close(focal_mask_penalty(empty),
                               torch.full((2, 3), math.log(0.01)))
    assert abs(math.log(0.01) + 4.6052) < 1e-4
    torch.testing.assert_close(focal_mask_penalty(empty, lam=0.1),
                               torch.full((2, 3), math.log(0.1)))
    area = torch.linspace(0, 0.99, 100)  # [0, 1 - lambda]
    masks = area.view(1, -1, 1, 1).expand(1, -1, 3, 3)
    penalty = focal_mask_penalty(masks)[0]
    assert torch.all(penalty <= 0)
    assert torch.all(penalty.diff() > 0)


def test_class_scores_drop_background():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 5, 5, generator=gen)
    masks = logits.softmax(dim=1)
    scores = mask_class_scores(logits, masks)
    assert scores.shape == (2, 3)
    full = ngwp_scores(logits, masks) + focal_mask_penalty(masks)
    torch.testing.assert_close(scores, full[:, 1:])


def test_mmseg_sigmoid_ce_is_the_multilabel_soft_margin_loss():
    """The module docstring's claim: no loss class of our own needed."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        loss = MODELS.build(
            dict(
                type='CrossEntropyLoss',
                use_sigmoid=True,
                avg_non_ignore=True,
                loss_name='loss_cls'))
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 20, generator=gen, requires_grad=True)
    labels = (torch.rand(4, 20, generator=gen) > 0.8).float()
    ours = loss(scores, labels)
    ref = F.multilabel_soft_margin_loss(scores, labels)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(
        torch.autograd.grad(ours, scores)[0],
        torch.autograd.grad(ref, scores)[0])
