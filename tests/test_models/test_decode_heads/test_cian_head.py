"""CIANHead and CIANWrapperHead (cian.md 3, 4.3, 6, 12), properties 2, 9,
10, 13-16 of cian.md 13."""
import pytest
import torch
import torch.nn.functional as F
from mmengine import ConfigDict
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg_wsss.models.decode_heads import cian_head
from mmseg_wsss.models.decode_heads.cian_head import (CIANHead,
                                                      CIANWrapperHead,
                                                      downsample_labels)

K, C, HW, SIZE = 5, 16, 9, 65
IGN = 255
CE = dict(type='CrossEntropyLoss', avg_non_ignore=True)
FOUR = {'loss_ce_self', 'loss_ce_cross', 'loss_cp_self', 'loss_cp_cross'}


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _head(type_='CIANHead', **kwargs):
    """A freshly initialised head (zero out-norm gamma)."""
    torch.manual_seed(0)
    cfg = dict(
        type=type_,
        in_channels=C,
        channels=C,
        num_classes=K,
        dilation=2,
        loss_decode=CE)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _train_norm(head):
    """Give the module's out norm non-zero parameters, as after training."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        head.cian.out_norm.weight.copy_(torch.randn(C, generator=gen))
        head.cian.out_norm.bias.copy_(torch.randn(C, generator=gen))
        for conv in (head.cian.theta, head.cian.phi, head.cian.g):
            conv.weight.normal_(std=0.3, generator=gen)
    return head


def _inputs(batch=4, seed=0, channels=C):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, channels, HW, HW, generator=gen), )


def _samples(batch=4, seed=0, size=SIZE, img_labels=None):
    """Samples with random labels in {0..K-1} (a 255 band) and, unless
    given, every foreground class as image label."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(batch):
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size),
                img_path=f'img{i}.jpg'))
        seg = torch.randint(0, K, (1, size, size), generator=gen)
        seg[:, :size // 4] = IGN
        sample.gt_sem_seg = PixelData(data=seg)
        labels = torch.ones(K - 1) if img_labels is None else img_labels[i]
        sample.set_data(dict(gt_img_labels=labels))
        samples.append(sample)
    return samples


def _branch_logits(head):
    """Record the classifier's outputs (self, then cross)."""
    seen = []
    head.conv_seg.register_forward_hook(lambda _, a, out: seen.append(out))
    return seen


def test_largefov_classifier_shared_by_both_branches():
    head = _head(in_channels=32, channels=32, dilation=12)
    conv = head.conv_seg
    assert conv.kernel_size == (3, 3) and conv.dilation == (12, 12)
    assert conv.padding == (12, 12) and conv.bias is None
    assert 0.008 < conv.weight.std() < 0.012  # N(0, 0.01)
    assert head.dropout is None
    classifiers = [n for n, m in head.named_modules() if 'conv_seg' in n]
    assert classifiers == ['conv_seg']
    assert head.cian.theta.out_channels == 16  # embed_ratio 0.5
    seen = _branch_logits(head)
    head.loss(_inputs(channels=32), _samples(), None)
    assert len(seen) == 2  # one classifier, called by both branches


@pytest.mark.parametrize('train', [True, False])
def test_zero_gamma_identity_then_learns(train):
    # property 2: at init both branches classify x itself
    head = _head().train(train)
    inputs = _inputs()
    x = inputs[0]
    plain = head.conv_seg(x)
    assert torch.equal(head(inputs), plain)
    seen = _branch_logits(head)
    losses = head.loss(inputs, _samples(), None)
    assert torch.equal(seen[0], plain) and torch.equal(seen[1], plain)
    assert torch.equal(losses['loss_ce_self'], losses['loss_ce_cross'])
    # one optimiser step (gamma has a gradient) ends the identity
    head.train()
    optim = torch.optim.SGD(head.parameters(), lr=0.1)
    sum(v for k, v in head.loss(inputs, _samples(), None).items()
        if k.startswith('loss')).backward()
    assert torch.count_nonzero(head.cian.out_norm.weight.grad) > 0
    optim.step()
    head.train(train)
    assert head.cian.out_norm.weight.abs().sum() > 0
    assert not torch.allclose(head(inputs), head.conv_seg(x), atol=1e-6)


def test_forward_and_predict_run_the_self_branch():
    head = _train_norm(_head()).eval()
    inputs = _inputs()
    z_self, _ = head.cian(inputs[0])
    expected = head.conv_seg(z_self)
    torch.testing.assert_close(head(inputs), expected)
    for batch in (1, 3):
        x = (inputs[0][:batch], )
        metas = [s.metainfo for s in _samples(batch)]
        out = head.predict(x, metas, dict(mode='whole'))
        assert out.shape == (batch, K, SIZE, SIZE)
        torch.testing.assert_close(
            out, resize(expected[:batch], size=(SIZE, SIZE), mode='bilinear'))


@pytest.mark.parametrize('kwargs,keys', [
    (dict(), FOUR),
    (dict(use_cross=False), {'loss_ce_self'}),
    (dict(use_completion=False), {'loss_ce_self', 'loss_ce_cross'}),
    (dict(use_cross=False, use_completion=False), {'loss_ce_self'}),
])
def test_loss_keys(kwargs, keys):
    # property 15
    head = _head(**kwargs)
    losses = head.loss(_inputs(), _samples(), None)
    assert {k for k in losses if k.startswith('loss')} == keys
    assert 'acc_seg' in losses
    # no unused parameters (DDP without find_unused_parameters)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    unused = [n for n, p in head.named_parameters() if p.grad is None]
    assert unused == []


@pytest.mark.parametrize('kwargs,terms', [
    (dict(), 4),
    (dict(use_completion=False), 2),
    (dict(use_cross=False), 1),
    (dict(loss_decode=[CE, dict(CE, loss_name='loss_ce2')]), 6),
])
def test_normalize_terms_divides_by_the_number_of_terms(kwargs, terms):
    summed = _head(**kwargs).loss(_inputs(), _samples(), None)
    mean = _head(normalize_terms=True, **kwargs).loss(_inputs(), _samples(),
                                                       None)
    assert summed.keys() == mean.keys()
    for name, loss in summed.items():
        scale = terms if name.startswith('loss') else 1
        torch.testing.assert_close(mean[name] * scale, loss)


def test_losses_have_weight_one_and_shared_target():
    # property 15: each term unweighted; cian.md eq. 9
    head = _train_norm(_head())
    seen = _branch_logits(head)
    img_labels = torch.tensor([[1., 0, 1, 0], [0, 1, 1, 1], [1, 1, 0, 0],
                               [0, 0, 0, 1]])
    samples = _samples(img_labels=img_labels)
    losses = head.loss(_inputs(), samples, None)
    label = downsample_labels(
        torch.stack([s.gt_sem_seg.data for s in samples]), (HW, HW))[:, 0]
    own, cross = seen
    target = head.loss_completion.targets(cross, img_labels, label)
    assert (target != IGN).any() and (target == IGN).any()
    expected = dict(
        loss_ce_self=F.cross_entropy(own, label, ignore_index=IGN),
        loss_ce_cross=F.cross_entropy(cross, label, ignore_index=IGN),
        loss_cp_self=F.cross_entropy(own, target, ignore_index=IGN),
        loss_cp_cross=F.cross_entropy(cross, target, ignore_index=IGN))
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value)
    weighted = _train_norm(
        _head(
            loss_decode=dict(CE, loss_weight=2.),
            loss_completion=dict(type='CompletionLoss', loss_weight=3.)))
    doubled = weighted.loss(_inputs(), samples, None)
    for key in FOUR:
        factor = 2. if 'ce' in key else 3.
        torch.testing.assert_close(doubled[key], factor * losses[key])


def test_no_gradient_through_the_completion_target():
    # property 9
    head = _head()
    gen = torch.Generator().manual_seed(3)
    logits = {
        branch: torch.randn(4, K, HW, HW, generator=gen, requires_grad=True)
        for branch in ('self', 'cross')
    }
    losses = head.loss_by_feat(logits, _samples())
    losses['loss_cp_self'].backward(retain_graph=True)
    assert logits['cross'].grad is None
    assert torch.count_nonzero(logits['self'].grad) > 0
    losses['loss_cp_cross'].backward()
    assert torch.count_nonzero(logits['cross'].grad) > 0


def test_empty_valid_set_gives_zero_losses():
    # property 10: all-255 seeds
    head = _head()
    samples = _samples()
    for sample in samples:
        sample.gt_sem_seg.data[:] = IGN
    losses = head.loss(_inputs(), samples, None)
    for key in FOUR:
        assert torch.isfinite(losses[key]) and losses[key].item() == 0
    sum(losses[key] for key in FOUR).backward()
    assert torch.isfinite(head.conv_seg.weight.grad).all()


def test_nearest_label_downsampling():
    # property 16: one boundary between classes 3 and 15
    seg = torch.full((1, 1, SIZE, SIZE), 3)
    seg[..., 30:] = 15
    small = downsample_labels(seg, (HW, HW))
    assert small.shape == (1, 1, HW, HW) and small.dtype == torch.long
    assert set(small.unique().tolist()) == {3, 15}
    # the official code's bilinear resize of ids would invent classes
    bilinear = F.interpolate(seg.float(), (HW, HW), mode='bilinear').long()
    assert set(bilinear.unique().tolist()) - {3, 15}


@pytest.mark.parametrize('resolution', ['feature', 'input'])
def test_loss_resolution(resolution):
    head = _head(loss_resolution=resolution, use_cross=False)
    seen = _branch_logits(head)
    samples = _samples()
    losses = head.loss(_inputs(), samples, None)
    label = torch.stack([s.gt_sem_seg.data for s in samples])
    logits = seen[0]
    if resolution == 'feature':
        label = downsample_labels(label, (HW, HW))
    else:
        logits = resize(logits, size=(SIZE, SIZE), mode='bilinear')
    torch.testing.assert_close(
        losses['loss_ce_self'],
        F.cross_entropy(logits, label[:, 0], ignore_index=IGN))


def _ref_index_seen(head):
    seen = []
    head.cian.register_forward_hook(
        lambda _, args, out: seen.append(args[1] if len(args) > 1 else None))
    return seen


def test_pairs_are_group_contiguous():
    # property 13: a batch of 4 = two pairs, (0, 1) and (2, 3)
    head = _train_norm(_head())
    seen = _ref_index_seen(head)
    head.loss(_inputs(), _samples(), None)
    assert seen[0].tolist() == [[1], [0], [3], [2]]
    # image 0's cross branch reads image 1, not images 2 and 3
    head.eval()
    x = _inputs()[0]
    ref_index = head.ref_index(_samples(), x.device)
    _, z_cross = head.cian(x, ref_index)
    for other, changes in ((1, True), (2, False), (3, False)):
        moved = x.clone()
        moved[other] += 1.
        _, m_cross = head.cian(moved, ref_index)
        assert torch.allclose(m_cross[0], z_cross[0]) != changes
    # groups of three
    head = _head(group_size=3)
    seen = _ref_index_seen(head)
    head.loss(_inputs(6), _samples(6), None)
    assert seen[0].tolist() == [[1, 2], [2, 0], [0, 1], [4, 5], [5, 3], [3, 4]]


@pytest.mark.parametrize('batch', [1, 3])
def test_odd_batch_falls_back_to_self_reference(batch, monkeypatch):
    # property 13: the leftover image's cross branch is its self branch
    logged = []
    monkeypatch.setattr(cian_head, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    head = _train_norm(_head())
    seen = _ref_index_seen(head)
    messages = []
    head.cian.out_conv.register_forward_hook(
        lambda _, args, out: messages.append(args[0]))
    losses = head.loss(_inputs(batch), _samples(batch), None)
    assert set(losses) >= FOUR
    assert seen[0][-1].tolist() == [batch - 1]
    own, merged = messages  # self, then merged messages
    assert torch.equal(own[-1], merged[-1])
    if batch > 1:
        assert not torch.equal(own[0], merged[0])
    assert len(logged) == 1 and 'group_size=2' in logged[0][0]
    assert logged[0][1]['level'] == 30  # logging.WARNING
    # a whole batch logs nothing
    head.loss(_inputs(), _samples(), None)
    assert len(logged) == 1


def test_check_partners():
    labels = torch.tensor([[1., 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0],
                           [0, 1, 1, 0]])
    head = _head(check_partners=True)
    with pytest.raises(ValueError, match=r"img0.jpg', 'img1.jpg"):
        head.loss(_inputs(), _samples(img_labels=labels), None)
    labels[1, 0] = 1.
    head.loss(_inputs(), _samples(img_labels=labels), None)
    # off by default
    labels[1, 0] = 0.
    _head().loss(_inputs(), _samples(img_labels=labels), None)


def test_seed_rule_needs_no_image_labels():
    head = _head(loss_completion=dict(type='CompletionLoss', allowed='seed'))
    samples = _samples()
    for sample in samples:
        del sample.gt_img_labels
    assert set(head.loss(_inputs(), samples, None)) >= FOUR
    with pytest.raises(KeyError, match='gt_img_labels'):
        _head().loss(_inputs(), samples, None)


def test_bad_options_raise():
    with pytest.raises(ValueError, match='must equal in_channels'):
        _head(channels=8)
    with pytest.raises(ValueError, match='loss_resolution'):
        _head(loss_resolution='half')
    with pytest.raises(ValueError, match='group_size'):
        _head(group_size=1)


def _tiny_segmentor(decode_head):
    """EncoderDecoder on a tiny ResNetV1c (OS 8, frozen BN, cian.md 3)."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(
                type='SegDataPreProcessor',
                size=(SIZE, SIZE),
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True,
                pad_val=0,
                seg_pad_val=IGN),
            backbone=dict(
                type='ResNetV1c',
                depth=18,
                stem_channels=8,
                base_channels=4,
                strides=(1, 2, 1, 1),
                dilations=(1, 1, 2, 4),
                out_indices=(3, ),
                contract_dilation=True,
                zero_init_residual=False,
                norm_cfg=dict(type='BN', requires_grad=False),
                norm_eval=True),
            decode_head=decode_head,
            train_cfg=dict(),
            test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    return model


def _train_step(model, batch=4, lr=0.1):
    gen = torch.Generator().manual_seed(5)
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, SIZE, SIZE), generator=gen).byte()
            for _ in range(batch)
        ],
        data_samples=_samples(batch))
    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=lr))
    return model.train_step(data, optim)


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_frozen_backbone_bn_and_trained_module_bn():
    # property 14
    model = _tiny_segmentor(
        dict(
            type='CIANHead',
            in_channels=32,
            channels=32,
            num_classes=K,
            dilation=2,
            loss_decode=CE))
    backbone = _state(model.backbone)
    norm = _state(model.decode_head.cian.out_norm)
    log = _train_step(model)
    assert set(log) >= {f'decode.{k}' for k in FOUR}
    after = model.backbone.state_dict()
    bn_keys = [k for k in backbone if 'bn' in k or 'stem.1' in k]
    assert bn_keys
    for key in bn_keys:
        assert torch.equal(after[key], backbone[key]), key
    for key in ('stem.0.weight', 'layer4.0.conv1.weight'):
        assert not torch.equal(after[key], backbone[key]), key  # trained
    moved = model.decode_head.cian.out_norm.state_dict()
    assert not torch.equal(moved['running_mean'], norm['running_mean'])
    assert not torch.equal(moved['weight'], norm['weight'])
    # both branches updated the running statistics
    assert moved['num_batches_tracked'] == norm['num_batches_tracked'] + 2


def test_segmentor_inference_is_stock():
    model = _tiny_segmentor(
        dict(
            type='CIANHead',
            in_channels=32,
            channels=32,
            num_classes=K,
            dilation=2,
            loss_decode=CE)).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    out = model.predict(x, _samples(1))
    assert out[0].seg_logits.data.shape == (K, SIZE, SIZE)
    assert out[0].pred_sem_seg.data.shape == (1, SIZE, SIZE)


ASPP = dict(
    type='ASPPHead',
    in_channels=32,
    channels=8,
    dilations=(1, 2),
    num_classes=K,
    loss_decode=CE)


def test_wrapper_takes_the_stock_head_settings():
    head = MODELS.build(
        dict(type='CIANWrapperHead', head=ASPP, cian=dict(kv_pool=False)))
    assert isinstance(head, CIANWrapperHead)
    assert (head.in_channels, head.channels, head.num_classes) == (32, 8, K)
    assert type(head.features.head).__name__ == 'ASPPHead'
    assert head.features.head.dropout is None or isinstance(
        head.features.head.dropout, torch.nn.Identity)
    assert head.dropout.p == 0.1  # the stock default, now this head's
    assert head.conv_seg.kernel_size == (1, 1)
    assert head.conv_seg.bias is not None
    assert head.cian.theta.in_channels == 8
    assert isinstance(head.cian.kv_pool, torch.nn.Identity)
    assert head.loss_decode.loss_name == 'loss_ce'
    assert head.loss_decode.avg_non_ignore
    head = MODELS.build(
        dict(
            type='CIANWrapperHead',
            head=dict(ASPP, dropout_ratio=0.3),
            use_cross=False))
    assert head.dropout.p == 0.3 and not head.use_cross


def test_wrapper_trains_on_a_stock_aspp_head():
    model = _tiny_segmentor(
        dict(type='CIANWrapperHead', head=dict(ASPP, dropout_ratio=0.)))
    module = model.decode_head.cian
    start = _state(module)
    aspp = _state(model.decode_head.features.head)
    log = _train_step(model)
    assert set(log) >= {f'decode.{k}' for k in FOUR}
    first = _state(module)
    # step 1: gamma was zero, so inside the module only the norm learns
    assert not torch.equal(first['out_norm.weight'], start['out_norm.weight'])
    for key in ('theta.weight', 'phi.weight', 'g.weight', 'out_conv.weight'):
        assert torch.equal(first[key], start[key]), key
    changed = [
        k for k, v in model.decode_head.features.head.state_dict().items()
        if not torch.equal(v, aspp[k])
    ]
    assert changed  # the stock head's layers train too
