"""FCANeck and SF2Neck in a stock EncoderDecoder (wsfcn.md 5, "Mixing")."""
import pytest
import torch
from mmengine import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_wsss.models.necks.fca_neck import FCANeck
from mmseg_wsss.models.necks.sf2_neck import SF2Neck
from mmseg_wsss.models.utils.fca import FCA
from mmseg_wsss.models.utils.sf2 import SF2Fusion

K, SIZE = 3, 32
#: ResNetV1c-18 at output stride 8 with 8 base channels: (8, 16, 32, 64)
BACKBONE = dict(
    type='ResNetV1c',
    depth=18,
    stem_channels=8,
    base_channels=8,
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4),
    norm_cfg=dict(type='BN'),
    contract_dilation=True)
NECKS = {
    'FCANeck':
    (dict(type='FCANeck', in_channels=64, channels=16, in_index=3,
          dilations=(1, 2, 3, 4)), 3),
    'SF2Neck': (dict(type='SF2Neck', low_index=0, high_index=3,
                     low_channels=8, high_channels=64, channels=16,
                     align_channels=8), 0),
}


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _segmentor(neck, in_index):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor'),
            backbone=BACKBONE,
            neck=neck,
            decode_head=dict(
                type='FCNHead',
                in_channels=16,
                in_index=in_index,
                channels=8,
                num_convs=1,
                concat_input=False,
                num_classes=K,
                norm_cfg=dict(type='BN')),
            train_cfg=dict(),
            test_cfg=ConfigDict(mode='whole')))


def _samples():
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                          pad_shape=(SIZE, SIZE)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, K, (1, SIZE, SIZE), generator=gen))
        samples.append(sample)
    return samples


@pytest.mark.parametrize('name', sorted(NECKS))
def test_neck_trains_in_a_stock_encoder_decoder(name):
    neck, in_index = NECKS[name]
    model = _segmentor(neck, in_index)
    model.init_weights()
    model.train()
    inputs = torch.randn(2, 3, SIZE, SIZE)
    losses = model.loss(inputs, _samples())
    loss = sum(v for k, v in losses.items() if k.startswith('decode.loss'))
    loss.backward()
    module = model.neck.fca if name == 'FCANeck' else model.neck.sf2
    grads = [p.grad for n, p in module.named_parameters()
             if not n.endswith(('.norm.weight', '.norm.bias'))]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        seg = model.predict(inputs, _samples())
    assert seg[0].pred_sem_seg.data.shape == (1, SIZE, SIZE)


def test_fca_neck_replaces_only_its_level():
    torch.manual_seed(0)
    neck = FCANeck(in_channels=8, channels=4, in_index=1,
                   dilations=(1, 2, 3, 4)).eval()
    inputs = (torch.randn(2, 6, 8, 8), torch.randn(2, 8, 4, 4))
    outs = neck(inputs)
    assert outs[0] is inputs[0]
    assert isinstance(neck.fca, FCA)
    torch.testing.assert_close(outs[1], neck.fca(inputs[1]))


def test_sf2_neck_sums_the_fused_streams_at_the_low_level():
    torch.manual_seed(0)
    neck = SF2Neck(low_index=0, high_index=-1, low_channels=6,
                   high_channels=8, channels=4, align_channels=3).eval()
    inputs = (torch.randn(2, 6, 8, 8), torch.randn(2, 5, 4, 4),
              torch.randn(2, 8, 4, 4))
    outs = neck(inputs)
    assert isinstance(neck.sf2, SF2Fusion)
    assert outs[1:] == inputs[1:]
    deep, shallow = neck.sf2(inputs[0], inputs[2])
    assert outs[0].shape == (2, 4, 8, 8)
    torch.testing.assert_close(outs[0], deep + shallow)
