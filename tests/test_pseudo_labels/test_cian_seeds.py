"""CIAN seeds (cian.md 2): ``CAMLabelGenerator(rule=dict(type='cian'))``
from the CAMs of any CAM classifier of the project."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.pseudo_labels import CAMLabelGenerator, cam_saliency_seeds
from mmseg_wsss.utils.io import read_saliency

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tests', 'test_engine'))
import make_pseudo_labels  # noqa: E402
from auxsegnet_toy import tiny_auxsegnet_cfg  # noqa: E402

CIAN_RULE = dict(type='cian', cam_thr=0.3, bg_sal_thr=0.06, overlap='ignore')
CLS_CONFIG = osp.join(ROOT,
                      'configs/cam_baseline/cam_efficientnet-lite0_toy.py')

# cian.md 13, property 11: K_fg = 3, image labels [1, 0, 1]
C1 = [[.9, .6, .1, 0], [.5, .35, .1, 0], [.2, .1, 0, 0], [0, 0, 0, .8]]
C2 = np.ones((4, 4))  # absent class
C3 = [[.1, .7, .8, 0], [.2, .1, .9, 0], [0, .1, 0, 0], [0, 0, 0, .1]]
SAL = [[.9, .9, .9, .9], [.9, .9, .03, .01], [.5, .02, .5, .02],
       [0, .5, 0, .01]]
IMG_LABELS = [1., 0., 1.]
EXPECT = dict(
    ignore=[[1, 255, 3, 255], [1, 1, 255, 0], [255, 0, 255, 0],
            [0, 255, 0, 255]],
    argmax=[[1, 3, 3, 255], [1, 1, 255, 0], [255, 0, 255, 0],
            [0, 255, 0, 255]])


@pytest.mark.parametrize('overlap', ['ignore', 'argmax'])
def test_rule_on_the_spec_example(overlap):
    """Property 11 on the rule itself (absent class zeroed by hand)."""
    cam = np.stack([C1, C2, C3]) * np.array(IMG_LABELS)[:, None, None]
    out = cam_saliency_seeds(cam, np.array(SAL), 0.3, 0.06, overlap)
    assert out.tolist() == EXPECT[overlap]


def test_rule_comparisons_are_strict():
    """A CAM equal to 0.3 is no candidate; saliency equal to 0.06 is no
    background (cian.md 14.4)."""
    cam = np.array([[[0.3, 0.3, 0.31]]])
    sal = np.array([[0.06, 0.059, 0.06]])
    assert cam_saliency_seeds(cam, sal).tolist() == [[255, 0, 1]]


class StandIn(torch.nn.Module):
    """A CAM classifier's ``label_outputs`` with fixed raw CAMs."""

    def __init__(self, cam):
        super().__init__()
        self.cam = cam

    def label_outputs(self, inputs, with_decode=True):
        assert inputs.shape[-2:] == self.cam.shape[-2:]
        return dict(cam=self.cam)


@pytest.fixture
def example_saliency(tmp_path):
    path = str(tmp_path / 'sal.png')
    Image.fromarray(np.round(np.array(SAL) * 255).astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize('overlap', ['ignore', 'argmax'])
def test_generator_makes_the_spec_example_from_raw_cams(
        example_saliency, overlap):
    """Through the generator, from raw CAMs: each class's CAM is divided by
    its own maximum (scaled, with negative values, they give the same
    seeds), the absent class is zeroed, the saliency file is read."""
    raw = np.stack([np.array(C1) * 7, C2 * 100, np.array(C3) * 0.5])
    raw[0, 3, 0] = raw[2, 2, 0] = -5.  # ReLU'd to 0, as in the example
    sample = SegDataSample()
    sample.set_data(dict(gt_img_labels=torch.tensor(IMG_LABELS)))
    generator = CAMLabelGenerator(rule=dict(CIAN_RULE, overlap=overlap))
    result = generator(
        StandIn(torch.from_numpy(raw)[None].float()),
        torch.zeros(1, 3, 4, 4), sample,
        dict(img_path='unused.jpg', sal_path=example_saliency))
    assert result['label'].tolist() == EXPECT[overlap]
    assert not result['cam'][1].any()
    np.testing.assert_allclose(result['cam'][[0, 2]].max((1, 2)), 1,
                               rtol=1e-4)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_dataset(root, num_train=2, num_val=1, size=48, seed=3)
    return root


def _structured(cam_head):
    """Random backbone features are ~1e-9: large positive class weights
    give CAMs with structure."""
    cam_head.conv_seg.weight.data.abs_().mul_(1e12)


def _cam_classifier(toy_root, tmp_path):
    cfg = Config.fromfile(CLS_CONFIG)
    cfg.model.backbone.init_cfg = None
    cfg.train_dataloader.dataset.data_root = toy_root
    model = MODELS.build(cfg.model)
    _structured(model.decode_head)
    return cfg, model


def _auxsegnet(toy_root, tmp_path):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path)
    model = MODELS.build(cfg.model)
    _structured(model.auxiliary_head)
    return cfg, model


@pytest.mark.parametrize('build', [_cam_classifier, _auxsegnet])
def test_seeds_from_the_projects_cam_classifiers(build, toy_root, tmp_path):
    """The CAM classifier and AuxSegNet's classification head: seeds are
    the rule on per-class max-normalised CAMs, absent classes zeroed."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg, model = build(toy_root, tmp_path)
    model.eval()
    dataset = make_pseudo_labels.build_label_dataset(cfg, 'train')
    generator = CAMLabelGenerator(scales=(1.0, 0.5), flip=True,
                                  rule=CIAN_RULE)
    seen = set()
    for idx in range(len(dataset)):
        data = model.data_preprocessor(pseudo_collate([dataset[idx]]), False)
        sample = data['data_samples'][0]
        info = dataset.get_data_info(idx)
        result = generator(model, data['inputs'], sample, info)
        present = sample.gt_img_labels.numpy() > 0
        cam = result['cam']
        assert not cam[~present].any()
        np.testing.assert_allclose(cam[present].max((1, 2)), 1, rtol=1e-4)
        np.testing.assert_array_equal(
            result['label'],
            cam_saliency_seeds(cam, read_saliency(info['sal_path']), 0.3,
                               0.06))
        allowed = {0, 255} | set((np.flatnonzero(present) + 1).tolist())
        assert set(np.unique(result['label']).tolist()) <= allowed
        seen |= set(np.unique(result['label']).tolist())
    assert seen - {255}  # not only ignored pixels
