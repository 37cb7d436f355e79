"""CompletionLoss and completion_targets (cian.md 6.2), properties 8-10."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models.losses import CompletionLoss, completion_targets

ARGMAX = torch.tensor([[0, 2, 1], [3, 2, 0]])
IGN = 255


def _logits(argmax, num_classes=4):
    """1 x K x h x w logits whose argmax is ``argmax``."""
    return F.one_hot(argmax, num_classes).permute(2, 0, 1)[None].float()


def _seeds(*classes):
    """1 x 2 x 3 seed crop holding ``classes`` (and ignored pixels)."""
    seed = torch.full((1, 2, 3), IGN)
    seed.view(-1)[:len(classes)] = torch.tensor(classes)
    return seed


def test_worked_example():
    # property 8: K = 4, image labels {2}
    labels = torch.tensor([[0., 1., 0.]])
    target = completion_targets(_logits(ARGMAX), labels, _seeds(0, 2))
    assert target.tolist() == [[[0, 2, IGN], [IGN, 2, 0]]]
    target = completion_targets(_logits(ARGMAX), labels, _seeds(0))
    assert target.tolist() == [[[0, IGN, IGN], [IGN, IGN, 0]]]
    # the paper's rule reads image labels only, the code's the seeds only
    target = completion_targets(_logits(ARGMAX), labels, None, allowed='image')
    assert target.tolist() == [[[0, 2, IGN], [IGN, 2, 0]]]
    target = completion_targets(
        _logits(ARGMAX), None, _seeds(0, 1, 3), allowed='seed')
    assert target.tolist() == [[[0, IGN, 1], [3, IGN, 0]]]
    assert target.dtype == torch.long


def test_targets_stay_in_the_allowed_classes():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 8, 5, 7, generator=gen)
    labels = (torch.rand(6, 7, generator=gen) > 0.7).float()
    seeds = torch.randint(0, 8, (6, 5, 7), generator=gen)
    seeds[torch.rand(6, 5, 7, generator=gen) > 0.5] = IGN
    for allowed in ('seed_and_image', 'image', 'seed'):
        target = completion_targets(logits, labels, seeds, allowed)
        argmax = logits.argmax(1)
        kept = target != IGN
        assert torch.equal(target[kept], argmax[kept])
        for n in range(6):
            image = {0} | {c + 1 for c in labels[n].nonzero()[:, 0].tolist()}
            seed = set(seeds[n].unique().tolist()) - {IGN}
            rule = dict(
                seed_and_image=image & seed, image=image, seed=seed)[allowed]
            assert set(target[n][kept[n]].tolist()) <= rule
            # every pixel whose argmax is allowed is kept
            want = torch.tensor([c in rule for c in range(8)])[argmax[n]]
            assert torch.equal(kept[n], want)


def test_no_gradient_through_target():
    # property 9
    gen = torch.Generator().manual_seed(1)
    cross = torch.randn(2, 4, 3, 3, generator=gen, requires_grad=True)
    own = torch.randn(2, 4, 3, 3, generator=gen, requires_grad=True)
    labels = torch.ones(2, 3)
    target = completion_targets(cross, labels, None, allowed='image')
    assert not target.requires_grad
    CompletionLoss(allowed='image')(own, target).backward()
    assert cross.grad is None
    assert torch.count_nonzero(own.grad) > 0


def test_empty_valid_set_gives_zero():
    # property 10: all-255 seeds; and an allowed set missing every argmax
    loss = CompletionLoss()
    logits = _logits(ARGMAX).requires_grad_()
    labels = torch.tensor([[1., 1., 1.]])
    target = loss.targets(logits, labels, torch.full((1, 2, 3), IGN))
    assert torch.all(target == IGN)
    value = loss(logits, target)
    assert torch.isfinite(value) and value.item() == 0
    value.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))
    target = loss.targets(
        _logits(torch.full((2, 3), 3)), torch.tensor([[1., 0., 0.]]),
        _seeds(0, 1))
    assert torch.all(target == IGN)
    assert loss(logits, target).item() == 0


def test_loss_is_mean_ce_over_valid_pixels():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 5, 4, 4, generator=gen)
    target = torch.randint(0, 5, (2, 4, 4), generator=gen)
    target[0, :2] = IGN
    expected = F.cross_entropy(logits, target, ignore_index=IGN)
    torch.testing.assert_close(CompletionLoss()(logits, target), expected)
    torch.testing.assert_close(
        CompletionLoss(loss_weight=2.)(logits, target), 2 * expected)


def test_registry_name_and_options():
    loss = MODELS.build(dict(type='CompletionLoss'))
    assert isinstance(loss, CompletionLoss)
    assert loss.loss_name == 'loss_cp' and loss.allowed == 'seed_and_image'
    assert CompletionLoss(loss_name='loss_x').loss_name == 'loss_x'
    assert loss.needs_img_labels
    assert not CompletionLoss(allowed='seed').needs_img_labels


def test_bad_inputs_raise():
    logits = _logits(ARGMAX)
    with pytest.raises(ValueError, match='allowed'):
        CompletionLoss(allowed='gt')
    with pytest.raises(ValueError, match='img_labels'):
        completion_targets(logits, None, _seeds(0))
    with pytest.raises(ValueError, match='img_labels'):
        completion_targets(logits, torch.ones(1, 4), _seeds(0))
    with pytest.raises(ValueError, match='seed_label'):
        completion_targets(logits, torch.ones(1, 3), None)
    with pytest.raises(ValueError, match='seed_label'):
        completion_targets(logits, torch.ones(1, 3),
                           torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match='differ in size'):
        CompletionLoss()(logits, torch.zeros(1, 3, 3, dtype=torch.long))
