"""PixelWeightedHeadMixin (cosa.md 5 (a)): a stock head passes the stacked
gt_pixel_weight to its losses; with RAWCrossEntropyLoss uniform weights
give the plain CE over labelled pixels and others ``sum r CE / sum r``."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models.decode_heads import (PixelWeightedHeadMixin,
                                            PWASPPHead, PWFCNHead)

C = 3
SIZE = 6


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _head(type_='PWASPPHead', **kwargs):
    cfg = dict(
        type=type_,
        in_channels=4,
        channels=4,
        num_classes=C,
        loss_decode=dict(type='RAWCrossEntropyLoss'))
    if type_ == 'PWASPPHead':
        cfg['dilations'] = (1, 2)
    else:
        cfg['num_convs'] = 1
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _samples(weights=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    label = torch.randint(0, C, (2, SIZE, SIZE), generator=gen)
    label[:, 0] = 255
    if weights is None:
        weights = torch.rand(2, SIZE, SIZE, generator=gen) + 0.05
    samples = []
    for i in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(SIZE, SIZE)))
        sample.gt_sem_seg = PixelData(data=label[i:i + 1])
        sample.gt_pixel_weight = PixelData(data=weights[i:i + 1])
        samples.append(sample)
    return samples, label, weights


def _logits(seed=1):
    return torch.randn(
        2, C, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def test_classes_are_the_stock_heads_with_the_mixin():
    assert issubclass(PWASPPHead, PixelWeightedHeadMixin)
    assert isinstance(_head(), MODELS.get('ASPPHead'))
    assert isinstance(_head('PWFCNHead'), MODELS.get('FCNHead'))
    assert PWFCNHead.loss_by_feat is PixelWeightedHeadMixin.loss_by_feat


def test_uniform_weights_give_plain_ce():
    samples, label, _ = _samples(torch.full((2, SIZE, SIZE), 3.))
    logits = _logits()
    loss = _head().loss_by_feat(logits, samples)
    expected = F.cross_entropy(logits, label, ignore_index=255)
    torch.testing.assert_close(loss['loss_c2s'], expected)
    assert set(loss) == {'loss_c2s', 'acc_seg'}


def test_weights_give_weighted_mean():
    samples, label, weights = _samples()
    logits = _logits()
    loss = _head().loss_by_feat(logits, samples)
    ce = F.cross_entropy(logits, label, ignore_index=255, reduction='none')
    r = weights * (label != 255)
    torch.testing.assert_close(loss['loss_c2s'], (r * ce).sum() / r.sum())
    # the stock CE gets the weight as is (its own normalisation)
    stock = _head(loss_decode=dict(
        type='CrossEntropyLoss', avg_non_ignore=True)).loss_by_feat(
            logits, samples)
    torch.testing.assert_close(stock['loss_ce'],
                               (r * ce).sum() / (label != 255).sum())


def test_logits_resized_and_terms_of_one_name_summed():
    samples, label, weights = _samples()
    small = _logits()[..., ::2, ::2]
    head = _head(loss_decode=[
        dict(type='RAWCrossEntropyLoss'),
        dict(type='RAWCrossEntropyLoss', loss_weight=0.5)
    ])
    loss = head.loss_by_feat(small, samples)
    up = F.interpolate(small, size=(SIZE, SIZE), mode='bilinear')
    ce = F.cross_entropy(up, label, ignore_index=255, reduction='none')
    r = weights * (label != 255)
    torch.testing.assert_close(loss['loss_c2s'],
                               1.5 * (r * ce).sum() / r.sum())


def test_sampler_weight_is_combined():
    samples, label, weights = _samples()
    logits = _logits()
    head = _head(sampler=dict(type='OHEMPixelSampler', min_kept=20))
    kept = head.sampler.sample(logits, label[:, None])
    assert 0 < kept.sum() < (label != 255).sum()
    loss = head.loss_by_feat(logits, samples)
    ce = F.cross_entropy(logits, label, ignore_index=255, reduction='none')
    r = weights * kept * (label != 255)
    torch.testing.assert_close(loss['loss_c2s'], (r * ce).sum() / r.sum())


def test_head_loss_trains_and_degenerate_batch_is_finite():
    head = _head('PWFCNHead')
    samples, _, _ = _samples()
    inputs = [torch.randn(2, 4, 3, 3, requires_grad=True)]
    loss = head.loss(inputs, samples, train_cfg=dict())['loss_c2s']
    loss.backward()
    assert torch.isfinite(loss) and inputs[0].grad.abs().sum() > 0
    for sample in samples:
        sample.gt_sem_seg.data[:] = 255
    loss = head.loss_by_feat(_logits(), samples)['loss_c2s']
    assert torch.isfinite(loss) and loss == 0


def test_missing_or_misshapen_weights_are_refused():
    samples, _, _ = _samples()
    del samples[1].gt_pixel_weight
    with pytest.raises(KeyError, match='ComputeRAWReliability'):
        _head().loss_by_feat(_logits(), samples)
    samples, _, _ = _samples(torch.ones(2, SIZE, SIZE - 1))
    with pytest.raises(ValueError, match='size of gt_sem_seg'):
        _head().loss_by_feat(_logits(), samples)
    samples, _, _ = _samples()
    samples[0].gt_pixel_weight = PixelData(data=torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match='WSSSDataPreProcessor'):
        _head().loss_by_feat(_logits(), samples)
