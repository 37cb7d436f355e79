"""CAMLabelGenerator with PAMR (wsfcn.md 2.9): refined CAMs, the generator's
identity, the mixing config and the offline tool."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS, TASK_UTILS
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.models.utils import PAMR
from mmseg_wsss.models.utils.cam import max_normalize
from mmseg_wsss.pseudo_labels import (CAMLabelGenerator, StaleLabelsError,
                                      cam_to_label, generator_identity,
                                      identity_diff)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import make_pseudo_labels  # noqa: E402

PAMR_CONFIG = osp.join(
    ROOT, 'configs/wsfcn/mixing/cam_pamr_efficientnet-lite0_800it_'
    'synthvoc-224.py')
TOY_CONFIG = osp.join(ROOT,
                      'configs/cam_baseline/cam_efficientnet-lite0_toy.py')
K = 4  # foreground classes of the toy set
IMG_LABELS = torch.tensor([1., 0., 1., 0.])
SIZE = 48
EDGE = 33  # column where the two-tone image turns bright
BG_THR = 0.5


class StandIn(torch.nn.Module):
    """``label_outputs`` with fixed CAMs at the input size."""

    def __init__(self, cam):
        super().__init__()
        self.cam = cam

    def label_outputs(self, inputs, with_decode=True):
        assert inputs.shape[-2:] == self.cam.shape[-2:]
        return dict(cam=self.cam)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_dataset(root, num_train=3, num_val=1, size=SIZE, seed=0)
    return root


@pytest.fixture(scope='module')
def edge_image(tmp_path_factory):
    """A dark left part and a bright right part (from column ``EDGE``),
    with a little noise."""
    rng = np.random.default_rng(0)
    img = np.full((SIZE, SIZE, 3), 40, dtype=np.int32)
    img[:, EDGE:] = 210
    img += rng.integers(-8, 9, img.shape)
    path = str(tmp_path_factory.mktemp('edge') / 'edge.png')
    Image.fromarray(img.astype(np.uint8)).save(path)
    return path


def _label(generator, cam, img_path):
    sample = SegDataSample()
    sample.set_data(dict(gt_img_labels=IMG_LABELS))
    return generator(StandIn(cam), torch.zeros(1, 3, SIZE, SIZE), sample,
                     dict(img_path=img_path))


def _generator(pamr=None, bg_thr=BG_THR):
    return CAMLabelGenerator(
        rule=dict(type='threshold', bg_thr=bg_thr), pamr=pamr)


def _ramp_cam():
    """Class 0 rises linearly from left to right and crosses ``BG_THR``
    ``9`` columns before the image's edge; class 2 is labelled but has no
    activation; classes 1 and 3 (absent) are strong."""
    cam = torch.zeros(1, K, SIZE, SIZE)
    cam[:, 0] = torch.linspace(0, 1, SIZE)
    cam[:, [1, 3]] = 1
    return cam


def test_zero_iterations_give_the_labels_without_pamr(toy_root):
    """With ``num_iter=0`` the probabilities go to PAMR and back
    unchanged: exactly the CAMs and labels of the plain generator."""
    gen = torch.Generator().manual_seed(0)
    cam = torch.rand(1, K, SIZE, SIZE, generator=gen) * 2 - 0.5
    img_path = osp.join(toy_root, 'JPEGImages/train_00000.jpg')
    plain = _label(_generator(), cam, img_path)
    zero = _label(_generator(dict(type='PAMR', num_iter=0)), cam, img_path)
    np.testing.assert_array_equal(zero['cam'], plain['cam'])
    np.testing.assert_array_equal(zero['label'], plain['label'])
    assert len(np.unique(plain['label'])) == 3  # background and 2 classes


def test_crf_after_zero_pamr_iterations_is_the_crf_alone(toy_root):
    """The CRF starts from the refined probabilities (here unchanged)."""
    pytest.importorskip('pydensecrf')
    gen = torch.Generator().manual_seed(1)
    cam = torch.rand(1, K, SIZE, SIZE, generator=gen)
    img_path = osp.join(toy_root, 'JPEGImages/train_00000.jpg')
    rule = dict(type='threshold', bg_thr=BG_THR)
    crf = _label(CAMLabelGenerator(rule=rule, crf=dict()), cam, img_path)
    both = _label(
        CAMLabelGenerator(
            rule=rule, crf=dict(), pamr=dict(type='PAMR', num_iter=0)), cam,
        img_path)
    np.testing.assert_array_equal(both['label'], crf['label'])
    assert set(np.unique(crf['label'])) <= {0, 1, 3}


def test_pamr_moves_the_labels_to_the_image_edge(edge_image):
    """A CAM crossing the threshold off the image's edge: PAMR pulls the
    boundary of the labels to the edge."""
    plain = _label(_generator(), _ramp_cam(), edge_image)
    refined = _label(_generator(dict(type='PAMR')), _ramp_cam(), edge_image)
    edge_gt = np.zeros((SIZE, SIZE), dtype=np.uint8)
    edge_gt[:, EDGE:] = 1
    plain_errors = (plain['label'] != edge_gt).sum()
    refined_errors = (refined['label'] != edge_gt).sum()
    assert plain_errors >= 8 * SIZE
    assert refined_errors <= SIZE  # at most one column off
    # the labels are the threshold rule on the refined CAMs, which are zero
    # for the absent classes
    np.testing.assert_array_equal(refined['label'],
                                  cam_to_label(refined['cam'], BG_THR))
    assert not refined['cam'][[1, 3]].any()
    assert refined['cam'].dtype == np.float32


def test_refined_cams_are_refined_probabilities_at_background_bg_thr(
        edge_image):
    """The documented conversion, with the PAMR module itself: background
    score and labelled CAMs divided by their sum, refined, and scaled back
    so that the background is ``bg_thr``."""
    cfg = dict(type='PAMR', num_iter=3, dilations=(1, 2, 4))
    generator = _generator(cfg)
    assert isinstance(generator.pamr, PAMR)
    result = _label(generator, _ramp_cam(), edge_image)

    cam = max_normalize(_ramp_cam())
    scores = torch.cat([torch.full_like(cam[:, :1], BG_THR), cam[:, [0, 2]]],
                       dim=1).double()
    image = torch.from_numpy(np.array(Image.open(edge_image)))
    image = image.permute(2, 0, 1)[None].float() / 255
    probs = PAMR(**{k: v for k, v in cfg.items() if k != 'type'})(
        image, scores / scores.sum(dim=1, keepdim=True))
    np.testing.assert_allclose(probs.sum(dim=1).numpy(), 1, atol=1e-6)
    expect = BG_THR * probs[0, 1:] / probs[0, :1]
    np.testing.assert_allclose(result['cam'][[0, 2]], expect.numpy(),
                               rtol=1e-6)


def test_pamr_is_part_of_the_generator_identity():
    """Labels with and without PAMR (or with other PAMR settings) are other
    requests; an explicit ``pamr=None`` is the same request as none."""
    plain = generator_identity(dict(type='CAMLabelGenerator'))
    assert plain == generator_identity(
        dict(type='CAMLabelGenerator', pamr=None))
    with_pamr = generator_identity(
        dict(type='CAMLabelGenerator', pamr=dict(type='PAMR', num_iter=10)))
    assert with_pamr != plain
    assert any(line.startswith('pamr') for line in identity_diff(
        plain, with_pamr))
    fewer = generator_identity(
        dict(type='CAMLabelGenerator', pamr=dict(type='PAMR', num_iter=5)))
    assert identity_diff(with_pamr, fewer) == [
        'pamr.num_iter: 10 (on disk) vs 5 (now)'
    ]


def test_pamr_needs_the_threshold_rule_and_a_background_score():
    with pytest.raises(ValueError, match='PAMR.*threshold'):
        CAMLabelGenerator(
            rule=dict(type='auxsegnet'), pamr=dict(type='PAMR'))
    with pytest.raises(ValueError, match='bg_thr > 0'):
        _generator(dict(type='PAMR'), bg_thr=0.0)
    with pytest.raises(ValueError, match='num_iter'):
        _generator(dict(type='PAMR', num_iter=-1))


def test_mixing_config_builds_the_generator():
    cfg = Config.fromfile(PAMR_CONFIG)
    base = Config.fromfile(
        osp.join(ROOT, 'configs/cam_baseline/'
                 'cam_efficientnet-lite0_800it_synthvoc-224.py'))
    generator_cfg = cfg.label_generator.to_dict()
    assert generator_cfg.pop('pamr') == dict(
        type='PAMR', num_iter=10, dilations=(1, 2, 4, 8, 12, 24))
    assert generator_cfg == base.label_generator.to_dict()
    generator = TASK_UTILS.build(cfg.label_generator)
    assert generator.pamr.num_iter == 10
    assert generator.pamr.dilations == (1, 2, 4, 8, 12, 24)


def test_tool_labels_the_toy_set_with_pamr_and_refuses_plain_reuse(
        toy_root, tmp_path):
    """The mixing config's generator through tools/make_pseudo_labels.py
    (on the toy classifier, random weights); the folder is then refused to
    a request without PAMR."""
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.model.backbone.init_cfg = None
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = toy_root
        cfg[f'{split}_dataloader'].num_workers = 0
    cfg.label_generator = Config.fromfile(PAMR_CONFIG).label_generator
    cfg.label_generator.scales = (1.0, )
    cfg.label_generator.flip = False
    cfg_file = str(tmp_path / 'cls_pamr.py')
    cfg.dump(cfg_file)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'cls.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'labels')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['complete']
    assert meta['identity']['generator']['pamr']['num_iter'] == 10
    ids = open(osp.join(toy_root, 'ImageSets/Segmentation/train.txt')).read(
    ).split()
    assert all(osp.isfile(osp.join(out, f'{i}.png')) for i in ids)
    with pytest.raises(StaleLabelsError, match=r'generator\.pamr'):
        make_pseudo_labels.main([
            cfg_file, ckpt, '--out-dir', out, '--cfg-options',
            'label_generator.pamr=None'
        ])


def test_labels_made_before_the_option_existed_stay_valid():
    """An identity without ``pamr`` (labels written before the option) is
    the identity with ``pamr=None``; any other value differs."""
    old = dict(generator=dict(type='CAMLabelGenerator', bg_thr=0.45))
    now = dict(generator=dict(old['generator'], pamr=None))
    assert identity_diff(old, now) == []
    on = dict(generator=dict(old['generator'], pamr=dict(type='PAMR')))
    assert identity_diff(old, on) == [
        "generator.pamr.type: '<absent>' (on disk) vs 'PAMR' (now)"
    ]
