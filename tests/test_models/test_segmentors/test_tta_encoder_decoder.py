"""TTAEncoderDecoder: mmseg's EncoderDecoder with test-time options."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine import ConfigDict
from mmseg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


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
    # a key dense_crf does not take is refused when resolved (at build)
    with pytest.raises(TypeError, match=r"\['foo'\]"):
        resolve_crf(dict(foo=1), defaults)


def _views(model, x, scales, flip):
    """Each flip direction's logits per scale, by hand: the images resized
    (bilinear), run, flipped back and resized to the input size."""
    size = x.shape[2:]
    directions = []
    for flipped in ((False, True) if flip else (False, )):
        maps = []
        for scale in scales:
            shape = tuple(round(s * scale) for s in size)
            view = F.interpolate(
                x, shape, mode='bilinear', align_corners=False)
            view = view.flip(3) if flipped else view
            logits = model.inference(view, [
                dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                     padding_size=[0, 0, 0, 0])
            ])
            logits = logits.flip(3) if flipped else logits
            maps.append(
                F.interpolate(
                    logits, size, mode='bilinear', align_corners=False))
        directions.append(maps)
    return directions


def test_logit_merge_with_max_map_is_cians_procedure():
    """cian.md 7: per flip direction the logits at 0.75 / 1 / 1.25 and
    their element-wise maximum, the four logit maps averaged; then both
    directions averaged."""
    scales = (0.75, 1.0, 1.25)
    stock, tta = _pair(
        scales=scales, flip=True, merge='logit', add_max=True)
    for model in (stock, tta):  # logits that vary with the scale
        model.decode_head.conv_seg.weight.data.mul_(100)
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad():
        directions = _views(stock, x, scales, flip=True)
        result = tta.predict(x)[0]
    means = [(sum(maps) + torch.stack(maps).amax(0)) / 4
             for maps in directions]
    expect = ((means[0] + means[1]) / 2)[0]
    torch.testing.assert_close(
        result.seg_logits.data, expect, atol=1e-5, rtol=1e-4)
    assert torch.equal(result.pred_sem_seg.data[0], expect.argmax(0))
    # the maximum map matters: it is not the plain mean of the views
    plain = sum(sum(maps) for maps in directions)[0] / 6
    assert not torch.allclose(expect, plain, atol=1e-2)


def test_logit_merge_without_max_map_averages_the_logits():
    scales = (0.5, 1.0)
    stock, tta = _pair(scales=scales, merge='logit')
    x = torch.randn(2, 3, 32, 40)
    with torch.no_grad():
        (maps, ) = _views(stock, x, scales, flip=False)
        out = torch.stack([r.seg_logits.data for r in tta.predict(x)])
    torch.testing.assert_close(out, sum(maps) / 2, atol=1e-5, rtol=1e-4)


def test_explicit_defaults_are_the_default_merge():
    """``merge='prob', add_max=False`` is the mean probability of before;
    with one view ``merge`` and ``add_max`` change nothing."""
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad():
        _, implicit = _pair(scales=(1.0, 0.5), flip=True)
        _, explicit = _pair(
            scales=(1.0, 0.5), flip=True, merge='prob', add_max=False)
        assert torch.equal(implicit.predict(x)[0].seg_logits.data,
                           explicit.predict(x)[0].seg_logits.data)
        stock, single = _pair(merge='logit', add_max=True)
        assert torch.equal(stock.predict(x)[0].seg_logits.data,
                           single.predict(x)[0].seg_logits.data)


def test_unknown_merge_is_refused():
    _, tta = _pair()
    tta.test_cfg['merge'] = 'mean'  # changed after the build-time check
    with pytest.raises(ValueError, match="merge must be one of"):
        tta.predict(torch.randn(1, 3, 16, 16))


def test_crf_refines_the_softmax_of_the_merged_logits(tmp_path):
    """The CRF of merged logits is ``dense_crf`` on their softmax (unary
    -log softmax = -logits up to a per-pixel constant, cian.md 7)."""
    pytest.importorskip('pydensecrf')
    from mmseg.structures import SegDataSample
    from PIL import Image

    from mmseg_wsss.utils.crf import dense_crf
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    path = str(tmp_path / 'img.png')
    Image.fromarray(img).save(path)
    meta = dict(img_path=path, img_shape=(32, 40), ori_shape=(32, 40),
                pad_shape=(32, 40), padding_size=[0, 0, 0, 0])
    options = dict(scales=(0.75, 1.0, 1.25), flip=True, merge='logit',
                   add_max=True)
    _, raw = _pair(**options)
    _, crf = _pair(**options, crf=dict(num_iters=5))
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad():
        logits = raw.predict(x, [SegDataSample(metainfo=meta)])[0]
        refined = crf.predict(x, [SegDataSample(metainfo=meta)])[0]
    posterior = dense_crf(img, logits.seg_logits.data.softmax(0).numpy(),
                          num_iters=5)
    torch.testing.assert_close(refined.seg_logits.data.exp(),
                               torch.from_numpy(posterior), atol=1e-5,
                               rtol=1e-4)
    assert torch.equal(refined.pred_sem_seg.data[0],
                       torch.from_numpy(posterior.argmax(0)))


def test_tools_test_refuses_merge_keys_on_a_stock_encoder_decoder():
    """``merge`` / ``add_max`` on a segmentor that ignores them is an
    error of tools/test.py, as ``scales`` / ``flip`` are."""
    spec = importlib.util.spec_from_file_location(
        'tools_test', osp.join(ROOT, 'tools/test.py'))
    tools_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tools_test)
    stock = _cfg('EncoderDecoder', merge='logit', add_max=True)
    with pytest.raises(ValueError, match=r"\['merge', 'add_max'\]"):
        tools_test.check_test_time_keys(ConfigDict(model=stock))
    tools_test.check_test_time_keys(
        ConfigDict(model=_cfg('TTAEncoderDecoder', merge='logit')))


def test_bad_merge_or_crf_is_refused_at_build():
    """A typo in test_cfg.merge, or a crf that mmengine split into a list,
    fails when the model is built, not at the first prediction."""
    with pytest.raises(ValueError, match='merge'):
        MODELS.build(_cfg('TTAEncoderDecoder', merge='logits'))
    with pytest.raises(TypeError, match='crf'):
        MODELS.build(_cfg('TTAEncoderDecoder', crf=['num_iters=5']))
