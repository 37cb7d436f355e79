"""TTAEncoderDecoder: mmseg's EncoderDecoder with test-time options."""
import pytest
import torch
from mmengine import ConfigDict
from mmseg.registry import MODELS


def _cfg(type_, **test_cfg):
    return ConfigDict(
        type=type_,
        data_preprocessor=dict(type='SegDataPreProcessor'),
        backbone=dict(
            type='ResNetV1c', depth=18, stem_channels=8, base_channels=4,
            out_indices=(3, ), strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)),
        decode_head=dict(
            type='FCNHead', in_channels=32, channels=8, num_convs=1,
            num_classes=5),
        test_cfg=dict(mode='whole', **test_cfg))


def _pair(**test_cfg):
    torch.manual_seed(0)
    stock = MODELS.build(_cfg('EncoderDecoder')).eval()
    tta = MODELS.build(_cfg('TTAEncoderDecoder', **test_cfg)).eval()
    tta.load_state_dict(stock.state_dict())
    return stock, tta


def test_defaults_are_the_stock_prediction():
    stock, tta = _pair()
    x = torch.randn(2, 3, 32, 40)
    with torch.no_grad():
        a, b = stock.predict(x), tta.predict(x)
    for ra, rb in zip(a, b):
        torch.testing.assert_close(ra.seg_logits.data, rb.seg_logits.data)


def test_flip_averages_the_flipped_view():
    stock, tta = _pair(flip=True)
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad():
        plain = stock.inference(x, [dict(img_shape=(32, 40),
                                         ori_shape=(32, 40),
                                         pad_shape=(32, 40),
                                         padding_size=[0, 0, 0, 0])])
        flipped = stock.inference(x.flip(3), [dict(
            img_shape=(32, 40), ori_shape=(32, 40), pad_shape=(32, 40),
            padding_size=[0, 0, 0, 0])]).flip(3)
        out = tta.predict(x)[0].seg_logits.data
    expect = ((plain.softmax(1) + flipped.softmax(1)) / 2).log()[0]
    torch.testing.assert_close(out, expect, atol=1e-5, rtol=1e-4)


def test_crf_on_an_array_input_names_the_way_out():
    pytest.importorskip('pydensecrf')
    _, tta = _pair(crf=dict())
    with pytest.raises(KeyError, match='model.test_cfg.crf=None'):
        tta.predict(torch.randn(1, 3, 16, 16))


def test_resolve_crf():
    """``crf=True`` (what ``--cfg-options`` can express) is the segmentor's
    default CRF; a dict updates it; a dict mmengine split into a list is
    refused with the way out."""
    from mmseg_wsss.models.segmentors import AuxSegNet, TTAEncoderDecoder
    from mmseg_wsss.models.segmentors.test_time import resolve_crf
    defaults = AuxSegNet.default_crf
    assert resolve_crf(None, defaults) is None
    assert resolve_crf(False, defaults) is None
    assert resolve_crf(True, defaults) == defaults
    assert resolve_crf({}, defaults) == defaults
    assert resolve_crf(dict(num_iters=3), defaults) == dict(
        defaults, num_iters=3)
    assert TTAEncoderDecoder.default_crf == {}  # dense_crf's own defaults
    with pytest.raises(TypeError, match='crf=True'):
        resolve_crf(["{'num_iters':10", "'bi_sxy':83}"], defaults)
