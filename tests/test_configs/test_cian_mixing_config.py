"""CIAN mixed into a stock mmseg config: DeepLabV3 R-50 with its ASPP head
wrapped by CIANWrapperHead and the pair sampler; it loads, builds, takes a
training step on pseudo labels (the module's BN learns, its gated convs
wait for gamma) and predicts with the self branch."""
import os.path as osp

import torch
from mmengine import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg_wsss.datasets.samplers import check_group_batch_size

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'cian', 'mixing',
                  'deeplabv3_r50-d8_cian-wrapper_voc12aug-512.py')
K, SIZE = 21, 64


def _batch():
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for labels in ([3, 7], [7]):  # one pair sharing class 7
        inputs.append(
            torch.randint(0, 256, (3, SIZE, SIZE), generator=gen,
                          dtype=torch.uint8))
        seg = torch.full((1, SIZE, SIZE), 255)
        seg[:, :SIZE // 2] = 0
        seg[:, SIZE // 2:, :SIZE // 2] = labels[-1]
        sample = SegDataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE)))
        sample.gt_sem_seg = PixelData(data=seg)
        img_labels = torch.zeros(K - 1)
        img_labels[[c - 1 for c in labels]] = 1
        sample.set_data(dict(gt_img_labels=img_labels))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_stock_deeplabv3_with_the_wrapper_trains_and_predicts():
    init_default_scope('mmseg')
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.decode_head.head.type == 'ASPPHead'
    assert check_group_batch_size(cfg.train_dataloader) == 2
    model_cfg = cfg.model.copy()
    model_cfg['pretrained'] = None
    model_cfg['backbone']['init_cfg'] = None
    model_cfg['data_preprocessor']['size'] = (SIZE, SIZE)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()  # zero gamma of the module's output norm
    norm = model.decode_head.cian.out_norm
    assert torch.all(norm.weight == 0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    losses = model.train_step(_batch(), optim_wrapper)
    assert {
        'decode.loss_ce_self', 'decode.loss_ce_cross',
        'decode.loss_cp_self', 'decode.loss_cp_cross', 'aux.loss_ce'
    } <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    params = dict(model.named_parameters())
    assert not torch.equal(params['decode_head.cian.out_norm.weight'],
                           before['decode_head.cian.out_norm.weight'])
    # the stock ASPP layers train through the wrapper
    aspp = [n for n in before if n.startswith('decode_head.features.')
            and 'bottleneck' in n and n.endswith('weight')]
    assert aspp and any(not torch.equal(params[n], before[n]) for n in aspp)
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(), False)
        results = model.predict(data['inputs'], data['data_samples'])
    assert results[0].pred_sem_seg.data.shape == (1, SIZE, SIZE)
