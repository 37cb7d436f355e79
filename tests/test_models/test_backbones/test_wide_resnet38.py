import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg_wsss.models.backbones import WideResNet38

# PSA network/resnet38d.py layout: name -> (in, mid, out, stride, bottleneck)
BLOCKS = {
    'b2': (64, 128, 128, 2, False),
    'b2_1': (128, 128, 128, 1, False),
    'b2_2': (128, 128, 128, 1, False),
    'b3': (128, 256, 256, 2, False),
    'b3_1': (256, 256, 256, 1, False),
    'b3_2': (256, 256, 256, 1, False),
    'b4': (256, 512, 512, 2, False),
    **{f'b4_{i}': (512, 512, 512, 1, False)
       for i in range(1, 6)},
    'b5': (512, 512, 1024, 1, False),
    'b5_1': (1024, 512, 1024, 1, False),
    'b5_2': (1024, 512, 1024, 1, False),
    'b6': (1024, 512, 2048, 1, True),
    'b7': (2048, 1024, 4096, 1, True),
}


def bn_keys(prefix, channels):
    return {
        f'{prefix}.{k}': (channels, )
        for k in ('weight', 'bias', 'running_mean', 'running_var')
    } | {f'{prefix}.num_batches_tracked': ()}


def psa_state_dict_shapes():
    """Every key of PSA's resnet38d ``Net`` (without the normalizer)."""
    shapes = {'conv1a.weight': (64, 3, 3, 3)} | bn_keys('bn7', 4096)
    for name, (cin, mid, cout, stride, bot) in BLOCKS.items():
        shapes |= bn_keys(f'{name}.bn_branch2a', cin)
        if bot:
            shapes[f'{name}.conv_branch2a.weight'] = (mid, cin, 1, 1)
            shapes |= bn_keys(f'{name}.bn_branch2b1', mid)
            shapes[f'{name}.conv_branch2b1.weight'] = (cout // 2, mid, 3, 3)
            shapes |= bn_keys(f'{name}.bn_branch2b2', cout // 2)
            shapes[f'{name}.conv_branch2b2.weight'] = (cout, cout // 2, 1, 1)
        else:
            shapes[f'{name}.conv_branch2a.weight'] = (mid, cin, 3, 3)
            shapes |= bn_keys(f'{name}.bn_branch2b1', mid)
            shapes[f'{name}.conv_branch2b1.weight'] = (cout, mid, 3, 3)
        if bot or cin != cout or stride != 1:
            shapes[f'{name}.conv_branch1.weight'] = (cout, cin, 1, 1)
    return shapes


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return WideResNet38(out_indices=(0, 1, 2, 3, 4)).eval()


def bns(module):
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def test_output_shapes(model):
    captured = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: captured.__setitem__(name, o[0]))
        for name in ('b4_5', 'b5_2')
    ]
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 65, 65))
    for hook in hooks:
        hook.remove()
    assert [o.shape for o in outs] == [(2, 128, 33, 33), (2, 256, 17, 17),
                                       (2, 512, 9, 9), (2, 1024, 9, 9),
                                       (2, 4096, 9, 9)]
    conv4, conv5, conv6 = outs[2:]
    torch.testing.assert_close(
        conv4, torch.relu(model.b5.bn_branch2a(captured['b4_5'])))
    torch.testing.assert_close(
        conv5, torch.relu(model.b6.bn_branch2a(captured['b5_2'])))
    assert conv6.min() >= 0


def test_psa_state_dict_keys(model):
    expected = psa_state_dict_shapes()
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert actual == expected
    assert 'b2_1.conv_branch1.weight' not in actual
    assert actual['b5.conv_branch1.weight'] == (1024, 512, 1, 1)
    assert actual['b7.conv_branch2b1.weight'] == (2048, 1024, 3, 3)


def test_parameter_count(model):
    count = sum(p.numel() for p in model.parameters())
    from_layout = sum(
        torch.Size(s).numel() for k, s in psa_state_dict_shapes().items()
        if k.endswith(('weight', 'bias')))
    assert count == from_layout == 105_070_912


def test_strides_and_dilations(model):
    convs = {
        'b4.conv_branch2a': (2, 1),
        'b5.conv_branch2a': (1, 1),
        'b5.conv_branch2b1': (1, 2),
        'b5_1.conv_branch2a': (1, 2),
        'b5_2.conv_branch2b1': (1, 2),
        'b6.conv_branch2b1': (1, 4),
        'b7.conv_branch2b1': (1, 4),
    }
    modules = dict(model.named_modules())
    for name, (stride, dilation) in convs.items():
        conv = modules[name]
        assert (conv.stride[0], conv.dilation[0],
                conv.padding[0]) == (stride, dilation, dilation), name
    assert model.b6.dropout_2b1.p == 0.3 and model.b7.dropout_2b2.p == 0.5


def test_frozen_bn_and_stages_after_train_step(model):
    model.train()
    try:
        assert all(not m.training for m in bns(model))
        assert model.b7.dropout_2b1.training
        frozen = {
            n
            for n, p in model.named_parameters() if not p.requires_grad
        }
        assert {n.split('.')[0] for n in frozen if 'bn' not in n} == {
            'conv1a', 'b2', 'b2_1', 'b2_2'
        }
        assert all(n in frozen for n, _ in model.named_parameters()
                   if '.bn' in n or n.startswith('bn7'))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        optimizer = torch.optim.SGD(
            [p for p in model.parameters() if p.requires_grad], lr=0.1)
        outs = model(torch.randn(1, 3, 33, 33))
        sum(o.mean() for o in outs).backward()
        optimizer.step()
        after = model.state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert not any('bn' in k for k in changed)
        assert not any(k.split('.')[0] in ('conv1a', 'b2', 'b2_1', 'b2_2')
                       for k in changed)
        assert 'b3.conv_branch2a.weight' in changed
        assert 'b7.conv_branch2b2.weight' in changed
    finally:
        model.zero_grad()
        model.eval()


def test_unfrozen_configuration_and_default_outputs():
    model = WideResNet38(
        frozen_stages=-1, norm_eval=False, frozen_bn_params=False).train()
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in bns(model))
    outs = model(torch.randn(2, 3, 33, 33))
    assert [o.shape for o in outs] == [(2, 256, 9, 9), (2, 4096, 5, 5)]
    assert model.bn7.num_batches_tracked == 1
    assert not WideResNet38(frozen_stages=0).conv1a.weight.requires_grad


@pytest.mark.parametrize('kwargs', [
    dict(out_indices=(5, )),
    dict(out_indices=()),
    dict(frozen_stages=7),
    dict(dropout_ratios=(0.3, )),
])
def test_invalid_args(kwargs):
    with pytest.raises(ValueError):
        WideResNet38(**kwargs)
