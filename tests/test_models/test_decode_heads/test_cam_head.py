import pytest
import torch
import torch.nn.functional as F
from mmengine import ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_wsss.models.decode_heads import CAMHead

LOSS = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_cls')


def _samples(labels):
    samples = []
    for row in labels:
        sample = SegDataSample()
        sample.set_data(dict(gt_img_labels=torch.tensor(row).float()))
        samples.append(sample)
    return samples


def test_cam_head_logits_cams_and_loss():
    head = CAMHead(in_channels=16, num_classes=5, loss_decode=LOSS).eval()
    assert head.conv_seg.bias is None
    assert head.conv_seg.out_channels == 4  # foreground classes only
    feats = (torch.randn(2, 16, 6, 6), )
    logits = head(feats)
    assert logits.shape == (2, 4)
    cam = head.cam(feats)
    assert cam.shape == (2, 4, 6, 6)
    # GAP classifier: logits are the spatial mean of the raw CAMs
    torch.testing.assert_close(cam.mean((2, 3)), logits, rtol=1e-5,
                               atol=1e-5)
    labels = [[1, 0, 0, 1], [0, 1, 1, 0]]
    losses = head.loss_by_feat(logits, _samples(labels))
    expected = F.multilabel_soft_margin_loss(logits,
                                             torch.tensor(labels).float())
    torch.testing.assert_close(losses['loss_cls'], expected)
    assert 0 <= losses['acc_cls'] <= 100


def test_cam_head_max_pool():
    head = CAMHead(
        in_channels=4, num_classes=3, pool='max', loss_decode=LOSS).eval()
    feats = (torch.randn(1, 4, 5, 5), )
    expected = head.conv_seg(F.adaptive_max_pool2d(feats[0], 1)).flatten(1)
    torch.testing.assert_close(head(feats), expected)


def test_cam_head_errors():
    with pytest.raises(ValueError, match='pool'):
        CAMHead(in_channels=4, num_classes=3, pool='sum', loss_decode=LOSS)
    head = CAMHead(in_channels=4, num_classes=3, loss_decode=LOSS)
    with pytest.raises(KeyError, match='gt_img_labels'):
        head.loss_by_feat(torch.zeros(1, 2), [SegDataSample()])


def _encoder_decoder(test_cfg, num_classes=5):
    """A stock EncoderDecoder: tiny ResNetV1c-18 (output stride 8) and a
    CAMHead as its decode head."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor'),
            backbone=dict(
                type='ResNetV1c',
                depth=18,
                stem_channels=8,
                base_channels=4,
                out_indices=(3, ),
                strides=(1, 2, 1, 1),
                dilations=(1, 1, 2, 4)),
            decode_head=dict(
                type='CAMHead',
                in_channels=32,
                in_index=0,
                num_classes=num_classes,
                loss_decode=LOSS),
            test_cfg=ConfigDict(test_cfg))).eval()


def test_cam_head_in_a_stock_encoder_decoder():
    model = _encoder_decoder(dict(mode='whole'))
    assert model.out_channels == model.decode_head.out_channels == 5
    inputs = torch.randn(2, 3, 40, 40)
    # trains on image labels
    model.train()
    losses = model.loss(inputs, _samples([[1, 0, 0, 1], [0, 1, 1, 0]]))
    assert set(losses) == {'decode.loss_cls', 'decode.acc_cls'}
    model.eval()
    with torch.no_grad():
        results = model.predict(inputs)
        cam = F.interpolate(
            model.decode_head.cam(model.extract_feat(inputs)), (40, 40),
            mode='bilinear', align_corners=False)
    for result, image_cam in zip(results, cam):
        logits = result.seg_logits.data
        assert logits.shape == (5, 40, 40)
        assert not logits[0].any()  # background score 0
        torch.testing.assert_close(logits[1:], image_cam)
        # a class where its CAM is the largest positive one, else background
        expected = torch.where(image_cam.amax(0) > 0,
                               image_cam.argmax(0) + 1, 0)
        assert torch.equal(result.pred_sem_seg.data[0], expected)


def test_cam_head_slide_inference():
    inputs = torch.randn(1, 3, 40, 40)
    slide = _encoder_decoder(
        dict(mode='slide', crop_size=(24, 24), stride=(16, 16)))
    with torch.no_grad():
        result, = slide.predict(inputs)
    logits = result.seg_logits.data
    assert logits.shape == (5, 40, 40)
    assert not logits[0].any()
    assert logits[1:].abs().sum() > 0
    # one window covering the image is whole inference
    one = _encoder_decoder(
        dict(mode='slide', crop_size=(40, 40), stride=(40, 40)))
    whole = _encoder_decoder(dict(mode='whole'))
    with torch.no_grad():
        torch.testing.assert_close(
            one.predict(inputs)[0].seg_logits.data,
            whole.predict(inputs)[0].seg_logits.data)


def test_cam_head_refuses_other_out_channels():
    with pytest.raises(ValueError, match='out_channels must be None or'):
        CAMHead(
            in_channels=4, num_classes=2, out_channels=1, loss_decode=LOSS)
