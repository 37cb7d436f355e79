"""AuxSegNetLabelGenerator with a stand-in model whose outputs are known."""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.pseudo_labels import AuxSegNetLabelGenerator
from mmseg_wsss.pseudo_labels import fuse_cam_saliency

K = 4  # foreground classes of the toy set
IMG_LABELS = torch.tensor([1., 0., 1., 0.])


class StandIn(torch.nn.Module):
    """``label_outputs`` from fixed 8x8 CAMs, affinity and saliency logit."""

    def __init__(self, affinity=None):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.cam = torch.rand(1, K, 8, 8, generator=gen) * 3 - 1
        self.affinity = torch.eye(64)[None] if affinity is None else affinity
        self.sal = torch.randn(1, 1, 8, 8, generator=gen)
        self.calls = []

    def label_outputs(self, inputs, with_decode=True):
        self.calls.append((tuple(inputs.shape[2:]), with_decode))
        out = dict(cam=self.cam)
        if with_decode:
            out.update(affinity=self.affinity, sal=self.sal)
        return out


@pytest.fixture(scope='module')
def toy_info(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_dataset(root, num_train=1, num_val=1, size=32, seed=0)
    return dict(
        img_path=osp.join(root, 'JPEGImages/train_00000.jpg'),
        sal_path=osp.join(root, 'SaliencyMaps/train_00000.png'))


def _run(generator, model, info):
    sample = SegDataSample()
    sample.set_data(dict(gt_img_labels=IMG_LABELS))
    return generator(model, torch.zeros(1, 3, 32, 32), sample, info)


def _offshelf(info):
    return mmcv.imread(info['sal_path'], flag='grayscale') / 255.


def test_raw_single_scale_cam_and_offshelf_saliency(toy_info):
    model = StandIn()
    gen = AuxSegNetLabelGenerator(
        scales=(1.0, ), refine=False, update_saliency=False)
    result = _run(gen, model, toy_info)
    assert model.calls == [((32, 32), False)]  # no decode head needed
    cam = F.interpolate(
        model.cam.relu() / (model.cam.relu().amax((2, 3), True) + 1e-5),
        size=(32, 32), mode='bilinear', align_corners=False)[0].numpy()
    cam[[1, 3]] = 0
    np.testing.assert_allclose(result['cam'], cam, atol=1e-5)
    np.testing.assert_array_equal(
        result['label'], fuse_cam_saliency(cam, _offshelf(toy_info)))
    assert 'sal' not in result


def test_identity_affinity_leaves_cams_unchanged(toy_info):
    raw = AuxSegNetLabelGenerator(refine=False, update_saliency=False)
    refined = AuxSegNetLabelGenerator(refine=True, update_saliency=False)
    a = _run(raw, StandIn(), toy_info)
    b = _run(refined, StandIn(), toy_info)
    np.testing.assert_allclose(a['cam'], b['cam'], atol=1e-6)


def test_refinement_is_one_product_with_the_affinity(toy_info):
    affinity = torch.rand(1, 64, 64, generator=torch.Generator().manual_seed(1))
    affinity = affinity / affinity.sum(2, keepdim=True)
    model = StandIn(affinity)
    gen = AuxSegNetLabelGenerator(
        scales=(1.0, ), refine=True, update_saliency=False)
    result = _run(gen, model, toy_info)
    cam = model.cam.relu() / (model.cam.relu().amax((2, 3), True) + 1e-5)
    once = torch.bmm(affinity, cam.flatten(2).transpose(1, 2))
    once = once.transpose(1, 2).reshape(cam.shape)
    expect = F.interpolate(once, size=(32, 32), mode='bilinear',
                           align_corners=False)[0].numpy()
    expect[[1, 3]] = 0
    np.testing.assert_allclose(result['cam'], expect, atol=1e-5)


def test_multiscale_cams_are_minmax_normalised(toy_info):
    model = StandIn()
    gen = AuxSegNetLabelGenerator(
        scales=(1.0, 0.5, 1.5), refine=False, update_saliency=False)
    cam = _run(gen, model, toy_info)['cam']
    assert [c[0] for c in model.calls] == [(32, 32), (16, 16), (48, 48)]
    for c in (0, 2):  # present classes
        assert cam[c].min() == pytest.approx(0, abs=1e-4)
        assert cam[c].max() == pytest.approx(1, abs=1e-4)
    assert not cam[[1, 3]].any()  # absent classes


def test_saliency_update_uses_crf_of_mean(toy_info):
    pytest.importorskip('pydensecrf')
    from mmseg_wsss.utils.crf import saliency_crf
    model = StandIn()
    gen = AuxSegNetLabelGenerator(scales=(1.0, ), refine=True,
                                  update_saliency=True)
    result = _run(gen, model, toy_info)
    img = mmcv.imread(toy_info['img_path'], channel_order='rgb')
    pred = F.interpolate(model.sal, size=(32, 32), mode='bilinear',
                         align_corners=False).sigmoid()[0, 0].numpy()
    sal = saliency_crf(img, (pred + _offshelf(toy_info)) / 2)
    assert result['sal'].dtype == np.uint8
    np.testing.assert_array_equal(result['sal'],
                                  np.round(sal * 255).astype(np.uint8))
    np.testing.assert_array_equal(result['label'],
                                  fuse_cam_saliency(result['cam'], sal))


def test_missing_saliency_names_the_file(toy_info, tmp_path):
    gen = AuxSegNetLabelGenerator(refine=False, update_saliency=False)
    info = dict(toy_info, sal_path=str(tmp_path / 'nope.png'))
    with pytest.raises(FileNotFoundError, match='nope.png'):
        _run(gen, StandIn(), info)


def test_refine_without_affinity_is_an_error(toy_info):
    model = StandIn()
    model.label_outputs = lambda inputs, with_decode=True: dict(cam=model.cam)
    gen = AuxSegNetLabelGenerator(refine=True, update_saliency=False)
    with pytest.raises(ValueError, match='affinity'):
        _run(gen, model, toy_info)


def test_rejects_bad_options():
    with pytest.raises(ValueError, match='sal_update_ref'):
        AuxSegNetLabelGenerator(sal_update_ref='latest')
    with pytest.raises(ValueError, match="scales"):
        AuxSegNetLabelGenerator(scales=())
