"""SegmentationLabelGenerator (CIAN's retraining labels, cian.md 8): the
segmentor's own test-time prediction, through the one writer."""
import copy
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS, TASK_UTILS
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.pseudo_labels import (SegmentationLabelGenerator,
                                      StaleLabelsError, generator_identity,
                                      identity_diff, update_meta)
from mmseg_wsss.utils.crf import dense_crf
from mmseg_wsss.utils.io import read_label_map

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import make_pseudo_labels  # noqa: E402

TOY_CONFIG = osp.join(
    ROOT, 'configs/cam_baseline/largefov_efficientnet-lite0_toy_pseudo.py')
NUM_CLASSES = 5  # the toy set's, background included
SIZE = 48
EDGE = 33  # column where the two-tone image turns bright
CIAN = dict(
    scales=(0.75, 1.0, 1.25), flip=True, merge='logit', add_max=True)
OPTIONS = ('scales', 'flip', 'merge', 'add_max', 'crf', 'restrict_to_labels')


def _model_cfg(type_='TTAEncoderDecoder', **test_cfg):
    return ConfigDict(
        type=type_,
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[127.] * 3,
            std=[128.] * 3,
            bgr_to_rgb=True),
        backbone=dict(
            type='ResNetV1c', depth=18, stem_channels=8, base_channels=4,
            out_indices=(3, ), strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)),
        decode_head=dict(
            type='FCNHead', in_channels=32, channels=8, num_convs=1,
            num_classes=NUM_CLASSES),
        test_cfg=dict(mode='whole', **test_cfg))


def _model(type_='TTAEncoderDecoder', **test_cfg):
    """A tiny segmentor whose prediction varies over the image."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(type_, **test_cfg))
    model.decode_head.conv_seg.weight.data.mul_(100)
    return model.eval()


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_dataset(root, num_train=3, num_val=1, size=SIZE, seed=0)
    return root


@pytest.fixture(scope='module')
def edge_image(tmp_path_factory):
    """A dark left part and a bright right part (from column ``EDGE``)."""
    rng = np.random.default_rng(0)
    img = np.full((SIZE, SIZE, 3), 40, dtype=np.int32)
    img[:, EDGE:] = 210
    img += rng.integers(-8, 9, img.shape)
    path = str(tmp_path_factory.mktemp('edge') / 'edge.png')
    Image.fromarray(img.astype(np.uint8)).save(path)
    return path


def _sample(img_path, img_labels=(1., 0., 1., 0.)):
    shape = (SIZE, SIZE)
    sample = SegDataSample(
        metainfo=dict(
            img_path=img_path, img_shape=shape, ori_shape=shape,
            pad_shape=shape, padding_size=[0, 0, 0, 0]))
    sample.set_data(dict(gt_img_labels=torch.tensor(img_labels)))
    return sample


def _label(generator, model, img_path, inputs=None):
    if inputs is None:
        inputs = torch.randn(
            1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    return generator(model, inputs, _sample(img_path),
                     dict(img_path=img_path))


def _fixed_logits(model, logits):
    """Make ``model.inference`` return ``logits`` (1 x C x H x W) at the
    size of any view (whatever the image: use one view, no flip)."""

    def inference(images, metas):
        return torch.nn.functional.interpolate(
            logits.expand(images.shape[0], -1, -1, -1),
            images.shape[2:],
            mode='bilinear',
            align_corners=False)

    model.inference = inference
    return model


def test_labels_are_the_prediction_with_the_same_test_time_options(
        toy_root):
    """Without CRF, the labels are the argmax of the merged logits: the
    model's own ``predict`` with the same ``test_cfg`` keys; a stock
    ``EncoderDecoder`` with the same weights gives the same labels."""
    img_path = osp.join(toy_root, 'JPEGImages/train_00000.jpg')
    generator = SegmentationLabelGenerator(**CIAN)
    result = _label(generator, _model(), img_path)
    with torch.no_grad():
        inputs = torch.randn(
            1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
        pred = _model(**CIAN).predict(inputs, [_sample(img_path)])[0]
    logits = pred.seg_logits.data
    np.testing.assert_array_equal(result['label'],
                                  logits.argmax(0).numpy().astype(np.uint8))
    assert result['label'].dtype == np.uint8
    assert len(np.unique(result['label'])) > 1
    np.testing.assert_allclose(
        result['cam'], logits.softmax(0).numpy(), atol=1e-6)
    assert result['cam'].dtype == np.float32
    stock = _label(generator, _model('EncoderDecoder'), img_path)
    np.testing.assert_array_equal(stock['label'], result['label'])


def test_the_models_own_test_time_keys_are_not_read(toy_root):
    """The generator's options decide, not the model's ``test_cfg``."""
    img_path = osp.join(toy_root, 'JPEGImages/train_00000.jpg')
    generator = SegmentationLabelGenerator()
    plain = _label(generator, _model(), img_path)
    other = _label(generator,
                   _model(scales=(0.5, ), flip=True, crf=True), img_path)
    np.testing.assert_array_equal(plain['label'], other['label'])


def test_crf_moves_the_boundary_to_the_image_edge(edge_image):
    """A prediction whose class boundary lies off the image's edge: the
    CRF (10 iterations, 3/3 and 80/13/10, cian.md 8) pulls it to the edge;
    the labels are the argmax of ``dense_crf`` on the softmax of the merged
    logits, dense (no 255)."""
    logits = torch.zeros(1, 2, SIZE, SIZE)
    logits[:, 1] = (torch.arange(SIZE) - (EDGE - 9) + 0.5) / 8
    model = _fixed_logits(_model(), logits)
    raw = _label(SegmentationLabelGenerator(merge='logit'), model,
                 edge_image)
    refined = _label(
        SegmentationLabelGenerator(merge='logit', crf=True), model,
        edge_image)
    edge_gt = np.zeros((SIZE, SIZE), dtype=np.uint8)
    edge_gt[:, EDGE:] = 1
    assert (raw['label'] != edge_gt).sum() == 9 * SIZE
    assert (refined['label'] != edge_gt).sum() <= SIZE
    image = np.array(Image.open(edge_image))
    posterior = dense_crf(image, logits[0].softmax(0).numpy())
    np.testing.assert_array_equal(refined['label'], posterior.argmax(0))
    np.testing.assert_allclose(refined['cam'], posterior, atol=1e-6)
    assert set(np.unique(refined['label'])) <= {0, 1}


def test_restrict_to_labels_drops_the_absent_classes(edge_image):
    """Image labels {1, 3} (classes 1 and 3 of the 4 foreground ones): the
    labels are the argmax over background, 1 and 3, also after a CRF."""
    logits = torch.randn(
        1, NUM_CLASSES, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    model = _fixed_logits(_model(), logits)
    free = _label(SegmentationLabelGenerator(), model, edge_image)
    assert {2, 4} & set(np.unique(free['label']))  # CIAN's code: any class
    kept = torch.tensor([0, 1, 3])
    restricted = _label(
        SegmentationLabelGenerator(restrict_to_labels=True), model,
        edge_image)
    np.testing.assert_array_equal(
        restricted['label'], kept[logits[0, kept].argmax(0)].numpy())
    assert not restricted['cam'][[2, 4]].any()
    np.testing.assert_allclose(restricted['cam'].sum(0), 1, atol=1e-5)
    with_crf = _label(
        SegmentationLabelGenerator(restrict_to_labels=True, crf=True), model,
        edge_image)
    assert set(np.unique(with_crf['label'])) <= {0, 1, 3}


def test_restrict_to_labels_checks_the_label_count(edge_image):
    model = _fixed_logits(_model(), torch.zeros(1, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match='image-label entries'):
        _label(
            SegmentationLabelGenerator(restrict_to_labels=True), model,
            edge_image)


def test_identity_has_every_option_and_changes_with_each():
    """The identity in meta.json lists all options (defaults filled in,
    so an explicit default is the same request); changing any one is
    another request."""
    default = generator_identity(dict(type='SegmentationLabelGenerator'))
    assert set(OPTIONS) <= set(default)
    explicit = dict(
        type='SegmentationLabelGenerator', scales=(1.0, ), flip=False,
        merge='prob', add_max=False, crf=None, restrict_to_labels=False)
    assert generator_identity(explicit) == default
    changes = dict(
        scales=(0.75, 1.0, 1.25), flip=True, merge='logit', add_max=True,
        crf=True, restrict_to_labels=True)
    for key, value in changes.items():
        other = generator_identity(
            dict(type='SegmentationLabelGenerator', **{key: value}))
        assert [line.split(':')[0]
                for line in identity_diff(default, other)] == [key]
    crf5 = generator_identity(
        dict(type='SegmentationLabelGenerator', crf=dict(num_iters=5)))
    crf10 = generator_identity(
        dict(type='SegmentationLabelGenerator', crf=dict(num_iters=10)))
    assert identity_diff(crf5, crf10) == [
        'crf.num_iters: 5 (on disk) vs 10 (now)'
    ]


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match='merge'):
        SegmentationLabelGenerator(merge='mean')
    with pytest.raises(ValueError, match='scales'):
        SegmentationLabelGenerator(scales=())
    with pytest.raises(ValueError, match='scales'):
        SegmentationLabelGenerator(scales=(1.0, -1.0))
    with pytest.raises(TypeError, match='crf'):
        SegmentationLabelGenerator(crf=['num_iters=5'])
    crf = SegmentationLabelGenerator(crf=dict(num_iters=5)).crf
    assert crf == dict(num_iters=5)
    assert SegmentationLabelGenerator(crf=True).crf == {}  # dense_crf's
    assert SegmentationLabelGenerator(crf=False).crf is None


@pytest.fixture(scope='module')
def segmenter(toy_root, tmp_path_factory):
    """A toy config with the tiny segmentor and CIAN's labels(2)
    generator, and a checkpoint (random weights)."""
    tmp = tmp_path_factory.mktemp('seg')
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.model = _model_cfg()
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = toy_root
        cfg[f'{split}_dataloader'].num_workers = 0
    cfg.label_generator = dict(
        type='SegmentationLabelGenerator', **CIAN, crf=dict(num_iters=10))
    cfg_file = str(tmp / 'seg.py')
    cfg.dump(cfg_file)
    ckpt = str(tmp / 'seg.pth')
    torch.save(dict(state_dict=_model().state_dict()), ckpt)
    return cfg_file, ckpt


def _ids(root):
    return open(osp.join(root, 'ImageSets/Segmentation/train.txt')).read(
    ).split()


def test_offline_tool_writes_dense_labels_and_resumes(segmenter, toy_root,
                                                      tmp_path):
    """tools/make_pseudo_labels.py builds the generator from the config and
    writes through the one writer: a label per image equal to the
    generator's, no 255, a complete meta naming every option; an
    interrupted folder is completed without touching the finished files;
    another option is another request."""
    cfg_file, ckpt = segmenter
    out = str(tmp_path / 'labels')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    ids = _ids(toy_root)
    labels = {i: read_label_map(osp.join(out, f'{i}.png')) for i in ids}
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['complete']
    generator_meta = meta['identity']['generator']
    assert generator_meta == dict(
        type='SegmentationLabelGenerator', scales=[0.75, 1.0, 1.25],
        flip=True, merge='logit', add_max=True, crf=dict(num_iters=10),
        restrict_to_labels=False)
    for label in labels.values():
        assert label.shape == (SIZE, SIZE)
        assert label.max() < NUM_CLASSES  # dense: no 255

    # one image by hand, through the writer's own data path
    init_default_scope('mmseg')
    model = _model()
    dataset = make_pseudo_labels.build_label_dataset(
        Config.fromfile(cfg_file), 'train')
    from mmengine.dataset import pseudo_collate
    data = model.data_preprocessor(pseudo_collate([dataset[0]]), False)
    generator = TASK_UTILS.build(
        copy.deepcopy(Config.fromfile(cfg_file).label_generator))
    by_hand = generator(model, data['inputs'], data['data_samples'][0],
                        dataset.get_data_info(0))
    np.testing.assert_array_equal(
        labels[dataset.get_data_info(0)['img_id']], by_hand['label'])

    # interrupted: one label missing, meta incomplete
    update_meta(out, complete=False)
    os.remove(osp.join(out, f'{ids[1]}.png'))
    stamps = {i: os.stat(osp.join(out, f'{i}.png')).st_mtime_ns
              for i in ids if i != ids[1]}
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    assert json.load(open(osp.join(out, 'meta.json')))['complete']
    assert {i: os.stat(osp.join(out, f'{i}.png')).st_mtime_ns
            for i in stamps} == stamps
    np.testing.assert_array_equal(
        read_label_map(osp.join(out, f'{ids[1]}.png')), labels[ids[1]])

    with pytest.raises(StaleLabelsError, match=r'generator\.add_max'):
        make_pseudo_labels.main([
            cfg_file, ckpt, '--out-dir', out, '--cfg-options',
            'label_generator.add_max=False'
        ])


def test_stage_hook_builds_the_generator():
    """CIAN's two rounds as stages: stage 0 trains on the seeds made
    offline (the dataset's ``pseudo_label_dir``), stage 1 on labels(2) of
    the round-1 model."""
    from mmseg_wsss.engine.hooks import PseudoLabelUpdateHook
    hook = PseudoLabelUpdateHook(
        generator=dict(type='SegmentationLabelGenerator', **CIAN, crf=True),
        generate_at_start=False)
    labels2 = hook.generators[1]
    assert isinstance(labels2, SegmentationLabelGenerator)
    assert (labels2.scales, labels2.flip, labels2.merge, labels2.add_max,
            labels2.crf) == ((0.75, 1.0, 1.25), True, 'logit', True, {})
