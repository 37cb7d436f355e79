"""SSSSOptimWrapperConstructor: the four LR / WD groups (wsfcn.md 3, 5)."""
import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401

LR, WD = 1e-3, 5e-4


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


class Tiny(nn.Module):
    """A backbone (conv with bias, a frozen conv, a BN) and a decode head
    (conv with bias, a BN); ``decode_head2`` is not under ``decode_head``."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 4, 3, bias=True), nn.Conv2d(4, 4, 1),
            nn.BatchNorm2d(4))
        self.backbone[1].requires_grad_(False)
        self.decode_head = nn.Sequential(
            nn.Conv2d(4, 2, 1, bias=True), nn.BatchNorm2d(2))
        self.decode_head2 = nn.Conv2d(2, 2, 1, bias=False)


def _build(model, **wrapper):
    cfg = dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=LR, momentum=0.9, weight_decay=WD),
        constructor='SSSSOptimWrapperConstructor')
    cfg.update(wrapper)
    return build_optim_wrapper(model, cfg)


def _names(model, group):
    ids = {id(p) for p in group['params']}
    return {n for n, p in model.named_parameters() if id(p) in ids}


@pytest.mark.parametrize('paramwise_cfg', [
    None,
    dict(),
    dict(new_prefixes=('decode_head', ), lr_mults=(1, 2, 20, 40)),
    dict(new_prefixes='decode_head'),
])
def test_four_groups(paramwise_cfg):
    model = Tiny()
    wrapper = {} if paramwise_cfg is None else dict(
        paramwise_cfg=paramwise_cfg)
    groups = _build(model, **wrapper).optimizer.param_groups
    got = [(_names(model, g), g['lr'], g['weight_decay']) for g in groups]
    assert got == [
        ({'backbone.0.weight', 'backbone.2.weight', 'decode_head2.weight'},
         pytest.approx(LR), WD),
        ({'backbone.0.bias', 'backbone.2.bias'}, pytest.approx(2 * LR), 0.),
        ({'decode_head.0.weight', 'decode_head.1.weight'},
         pytest.approx(20 * LR), WD),
        ({'decode_head.0.bias', 'decode_head.1.bias'},
         pytest.approx(40 * LR), 0.),
    ]
    # frozen parameters are in no group, every other one in exactly one
    members = [p for g in groups for p in g['params']]
    assert len(members) == len({id(p) for p in members})
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in members} == trainable
    assert not ({id(p) for p in model.backbone[1].parameters()} & trainable)


def test_wrapped_model_is_unwrapped():
    """A DDP-style wrapper (``.module``): names without ``module.``."""
    model = Tiny()
    wrapper = nn.Module()
    wrapper.module = model
    groups = _build(wrapper).optimizer.param_groups
    assert [len(g['params']) for g in groups] == [3, 2, 2, 2]
    assert _names(model, groups[3]) == {
        'decode_head.0.bias', 'decode_head.1.bias'
    }


def test_custom_prefixes_multipliers_and_empty_groups():
    model = Tiny()
    model.backbone.requires_grad_(False)
    groups = _build(
        model,
        paramwise_cfg=dict(
            new_prefixes=('decode_head', 'decode_head2'),
            lr_mults=(1, 1, 10, 10))).optimizer.param_groups
    # both pretrained groups are empty (the backbone is frozen)
    got = [(_names(model, g), g['lr'], g['weight_decay']) for g in groups]
    assert got == [
        ({'decode_head.0.weight', 'decode_head.1.weight',
          'decode_head2.weight'}, pytest.approx(10 * LR), WD),
        ({'decode_head.0.bias', 'decode_head.1.bias'},
         pytest.approx(10 * LR), 0.),
    ]


def test_no_weight_decay_in_optimizer():
    model = Tiny()
    groups = _build(
        model, optimizer=dict(type='SGD', lr=LR)).optimizer.param_groups
    # the bias groups set 0, the weight groups keep the optimizer's default
    assert [g['weight_decay'] for g in groups] == [0.] * 4


@pytest.mark.parametrize('paramwise_cfg, match', [
    (dict(custom_keys={'decode_head': dict(lr_mult=20.)}), 'custom_keys'),
    (dict(bias_lr_mult=2.), 'bias_lr_mult'),
    (dict(lr_mults=(1, 2, 20)), r'\(1, 2, 20\)'),
    (dict(new_prefixes=()), 'new_prefixes'),
    (dict(lr_mults=(1, 2, -20, 40)), '>= 0'),
    # a prefix that names nothing would train the head at the backbone's rate
    (dict(new_prefixes=('decode-head', )), 'match no trainable parameter'),
])
def test_rejects_bad_paramwise_cfg(paramwise_cfg, match):
    with pytest.raises(ValueError, match=match):
        _build(Tiny(), paramwise_cfg=paramwise_cfg)


def test_default_constructor_cannot_express_the_groups():
    """mmengine's custom_keys skip the bias rules: new biases get lr x 20
    and weight decay, not lr x 40 without."""
    model = Tiny()
    groups = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=LR, momentum=0.9, weight_decay=WD),
            paramwise_cfg=dict(
                custom_keys={'decode_head': dict(lr_mult=20.)},
                bias_lr_mult=2.,
                bias_decay_mult=0.))).optimizer.param_groups
    head_bias = model.decode_head[0].bias
    group, = (g for g in groups if any(p is head_bias for p in g['params']))
    assert group['lr'] == pytest.approx(20 * LR)
    assert group['weight_decay'] == WD
