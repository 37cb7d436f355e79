"""DualCAMHead (cosa.md §2.3; §6 property 3: GMP before the classifier)."""
import pytest
import torch
from mmseg.registry import MODELS

import mmseg_wsss  # noqa: F401  (registers DualCAMHead)


def features(seed=0, channels=(8, 6)):
    """Backbone outputs in layer order: (earlier, final), B=2, 5 x 7."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, c, 5, 7, generator=gen) for c in channels)


def build(**kwargs):
    cfg = dict(type='DualCAMHead', in_channels=(8, 6), num_classes=4)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_shapes_and_classifiers():
    head = build()
    out = head(features(channels=(6, 8)))
    assert set(out) == {'cls_score', 'cls_score_aux', 'cam', 'cam_aux'}
    assert out['cls_score'].shape == out['cls_score_aux'].shape == (2, 3)
    assert out['cam'].shape == out['cam_aux'].shape == (2, 3, 5, 7)
    assert head.classifier.bias is None and head.classifier_aux.bias is None
    assert head.classifier.weight.shape == (3, 8, 1, 1)
    assert head.classifier_aux.weight.shape == (3, 6, 1, 1)
    assert not torch.equal(out['cam'], out['cam_aux'])
    vit_b = MODELS.build(dict(type='DualCAMHead'))
    assert sum(p.numel() for p in vit_b.parameters()) == 30_720


def test_gmp_before_classifier():
    """Property 3: z = W . maxpool(F), which differs from maxpool(W * F)."""
    head = build(in_channels=8)
    aux, final = features(channels=(8, 8))
    out = head((aux, final))
    w = head.classifier.weight.flatten(1)
    w_aux = head.classifier_aux.weight.flatten(1)
    torch.testing.assert_close(out['cls_score'],
                               final.amax(dim=(2, 3)) @ w.T)
    torch.testing.assert_close(out['cls_score_aux'],
                               aux.amax(dim=(2, 3)) @ w_aux.T)
    assert (out['cls_score'] - out['cam'].amax(dim=(2, 3))).abs().min() > 0
    # the CAM is the classifier at every position: raw logits, no ReLU
    torch.testing.assert_close(out['cam'],
                               torch.einsum('kc,bchw->bkhw', w, final))
    assert (out['cam'] < 0).any()


def test_avg_pool():
    head = build(pool='avg')
    aux, final = features(channels=(6, 8))
    out = head((aux, final))
    torch.testing.assert_close(out['cls_score'],
                               out['cam'].mean(dim=(2, 3)))


def test_in_index_selects_final_and_earlier():
    head = build(in_index=(0, 2), in_channels=(6, 8))
    final, unused, aux = features(channels=(6, 5, 8))
    out = head((final, unused, aux))
    changed = head((final, torch.randn_like(unused), aux + 1))
    assert torch.equal(out['cam'], changed['cam'])
    assert torch.equal(out['cls_score'], changed['cls_score'])
    assert not torch.equal(out['cam_aux'], changed['cam_aux'])


def test_gradients_reach_each_classifier_only_through_its_output():
    head = build()
    out = head(features(channels=(6, 8)))
    out['cls_score_aux'].sum().backward()
    assert head.classifier.weight.grad is None
    assert head.classifier_aux.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs,match', [
    (dict(pool='sum'), "pool must be 'max' or 'avg'"),
    (dict(num_classes=1), 'num_classes counts the background'),
    (dict(in_index=(1, )), 'in_index must be two'),
    (dict(in_channels=(8, 6, 4)), 'in_channels must be one int or two'),
])
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)
