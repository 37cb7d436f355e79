"""Online pseudo ground truth (wsfcn.md 2.10; property P8 of section 6)."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_wsss.pseudo_labels import pseudo_gt_from_masks


def test_hand_made_example():
    # bg peak 0.9 -> t_0 = 0.63; class 1 peak 0.8 -> t_1 = 0.48;
    # class 2 is absent from the image labels
    bg = [[0.9, 0.1, 0.65], [0.15, 0.6, 0.005]]
    c1 = [[0.5, 0.8, 0.3], [0.1, 0.7, 0.005]]
    c2 = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.99]]
    masks = torch.tensor([[bg, c1, c2]])
    labels = pseudo_gt_from_masks(masks, torch.tensor([[1., 0.]]))
    assert labels.dtype == torch.long
    assert labels.tolist() == [[[255, 1, 0], [255, 1, 255]]]


def test_floor_keeps_weak_classes_out():
    bg = [[0.9, 0.1, 0.1]]
    c1 = [[0.05, 0.19, 0.15]]  # peak 0.19: 0.6 * 0.19 < floor 0.2
    labels = pseudo_gt_from_masks(torch.tensor([[bg, c1]]),
                                  torch.tensor([[1.]]))
    assert labels.tolist() == [[[0, 255, 255]]]
    low_bg = [[0.19, 0.1, 0.1]]
    labels = pseudo_gt_from_masks(torch.tensor([[low_bg, c1]]),
                                  torch.tensor([[1.]]), floor=0.1)
    assert labels.tolist() == [[[0, 1, 1]]]
    # strictly above: a pixel exactly at the floor is not claimed
    at_floor = [[0.05, 0.2, 0.3]]  # peak 0.3: 0.6 * 0.3 < 0.2
    labels = pseudo_gt_from_masks(torch.tensor([[bg, at_floor]]),
                                  torch.tensor([[1.]]))
    assert labels.tolist() == [[[0, 255, 1]]]


def _random_case(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    masks = torch.rand(3, 5, 6, 7, generator=gen)
    img_labels = torch.tensor([[1., 0., 1., 0.], [0., 0., 0., 1.],
                               [1., 1., 1., 1.]])
    return masks, img_labels


def test_labels_follow_the_thresholds():
    """P8 on random masks, upsampled to the label size."""
    masks, img_labels = _random_case()
    size = (11, 13)
    labels = pseudo_gt_from_masks(masks, img_labels, size=size)
    assert labels.shape == (3, ) + size
    up = F.interpolate(masks, size=size, mode='bilinear', align_corners=True)
    present = torch.cat([torch.ones(3, 1), img_labels], dim=1)
    up = up * present[..., None, None]
    peak = up.flatten(2).amax(2)
    thr = torch.maximum(peak * torch.tensor([0.7, 0.6, 0.6, 0.6, 0.6]),
                        torch.tensor(0.2))
    above = up > thr[..., None, None]
    n_above = above.sum(1)
    # a pixel above two thresholds (or none) is ignored
    assert torch.all(labels[n_above != 1] == 255)
    one = n_above == 1
    assert torch.equal(labels[one], above.float().argmax(1)[one])
    assert torch.any(one) and torch.any(n_above > 1)
    # background only above max(0.7 mu_0, 0.2); absent classes never
    assert torch.all(above[:, 0][labels == 0])
    for b in range(3):
        absent = (present[b] == 0).nonzero().flatten().tolist()
        assert not any((labels[b] == c).any() for c in absent)


def test_detached_and_checked():
    masks, img_labels = _random_case(1)
    masks.requires_grad_(True)
    labels = pseudo_gt_from_masks(masks, img_labels)
    assert not labels.requires_grad
    assert set(labels.unique().tolist()) <= {0, 1, 2, 3, 4, 255}
    with pytest.raises(ValueError):
        pseudo_gt_from_masks(masks, img_labels[:, 1:])
