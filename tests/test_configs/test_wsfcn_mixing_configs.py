"""WS-FCN's mixing configs (wsfcn.md 5, "Mixing into stock configs"):
stock mmseg DeepLabV3 R-50 with FCAHead, an SF2Neck or an FCANeck; each
loads, builds and takes a training step on the GT masks."""
import os.path as osp

import pytest
import torch
from mmengine import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FOLDER = osp.join(ROOT, 'configs', 'wsfcn', 'mixing')
K, SIZE = 21, 64
#: config name -> (decode head, neck, prefix of the WS-FCN parameters)
CONFIGS = {
    'deeplabv3_r50-d8_fca-head_voc12aug-512.py':
    ('FCAHead', None, 'decode_head.fca.'),
    'deeplabv3_r50-d8_sf2-neck_voc12aug-512.py':
    ('ASPPHead', 'SF2Neck', 'neck.sf2.'),
    'deeplabv3_r50-d8_fca-neck_voc12aug-512.py':
    ('FCNHead', 'FCANeck', 'neck.fca.'),
}


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _cfg(name):
    return Config.fromfile(osp.join(FOLDER, name))


def _build(model_cfg):
    """Without the ImageNet weights; padded to the test images only."""
    model_cfg = model_cfg.copy()
    model_cfg['pretrained'] = None
    model_cfg['backbone']['init_cfg'] = None
    model_cfg['data_preprocessor']['size'] = (SIZE, SIZE)
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def _batch(batch=2):
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(
            torch.randint(0, 256, (3, SIZE, SIZE), generator=gen,
                          dtype=torch.uint8))
        seg = torch.randint(0, K, (1, SIZE, SIZE), generator=gen)
        seg[:, -4:] = 255
        sample = SegDataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE)))
        sample.gt_sem_seg = PixelData(data=seg)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_keeps_the_stock_recipe(name):
    cfg = _cfg(name)
    head, neck, _ = CONFIGS[name]
    model = cfg.model
    assert model.type == 'EncoderDecoder'
    assert model.data_preprocessor.type == 'SegDataPreProcessor'
    assert model.data_preprocessor.size == (512, 512)
    assert (model.backbone.type, model.backbone.depth) == ('ResNetV1c', 50)
    assert model.backbone.strides == (1, 2, 1, 1)
    assert model.backbone.dilations == (1, 1, 2, 4)
    assert model.backbone.norm_cfg.type == 'BN'
    assert model.decode_head.type == head
    assert model.decode_head.num_classes == model.auxiliary_head.num_classes \
        == K
    assert (model.get('neck') or {}).get('type') == neck
    # _delete_ dropped the stock ASPP head's keys
    if head == 'FCNHead':
        assert 'dilations' not in model.decode_head
    # fully supervised: GT masks in training, allowed by the dataset
    dataset = cfg.train_dataloader.dataset
    assert dataset.allow_gt_masks is True
    assert 'LoadAnnotations' in [t['type'] for t in dataset.pipeline]
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_cfg.max_iters == 40000


@pytest.mark.parametrize('name', CONFIGS)
def test_one_training_step(name):
    _, _, prefix = CONFIGS[name]
    model = _build(_cfg(name).model)
    watched = {
        n: p.detach().clone()
        for n, p in model.named_parameters() if n.startswith(prefix)
    }
    assert watched
    model.train()
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    losses = model.train_step(_batch(), optim_wrapper)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    for key, value in losses.items():
        assert torch.isfinite(value).all(), key
    params = dict(model.named_parameters())
    unchanged = [
        n for n, before in watched.items() if torch.equal(params[n], before)
    ]
    assert not unchanged, unchanged


def test_fca_head_is_an_aspp_head_drop_in():
    """The stock ASPPHead arguments build an FCAHead; FCA gets the head's
    channels and norm; fca_cfg may not set them again."""
    aspp = _cfg('deeplabv3_r50-d8_sf2-neck_voc12aug-512.py').model.decode_head
    kwargs = dict(aspp, in_channels=16, channels=8)
    kwargs.pop('_delete_', None)
    head = MODELS.build(dict(kwargs, type='FCAHead'))
    assert (head.fca.in_channels, head.fca.channels) == (16, 8)
    assert not head.fca.align_corners
    x = torch.randn(2, 16, 9, 9)
    assert head([x]).shape == (2, K, 9, 9)
    with pytest.raises(ValueError, match='norm_cfg'):
        MODELS.build(
            dict(kwargs, type='FCAHead', fca_cfg=dict(norm_cfg=None)))
