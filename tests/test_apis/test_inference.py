"""A trained model segments a new photo through mmseg's own APIs
(``init_model`` + ``inference_model``, ``MMSegInferencer``) and
``tools/test.py --show-dir`` paints its predictions, for every method
config. Random weights: no checkpoint or download is needed."""
import importlib.util
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmseg_wsss import compat  # noqa: F401  (before mmseg.apis: no mmcv ops)
from mmseg_wsss.datasets.toy import make_toy_dataset

from mmseg.apis import MMSegInferencer, inference_model, init_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# (config, overrides for images without labels); WS-FCN, CIAN and CoSA add
# theirs. A new photo has no image labels: the CAM classifier's config keeps
# the classes it predicts for it (test_cfg.predict_missing_labels).
METHOD_CONFIGS = [
    ('configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py',
     {}),
    ('configs/cam_baseline/'
     'largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py', {}),
    ('configs/auxsegnet_plus/'
     'auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py', {}),
    ('configs/auxsegnet/auxsegnet_efficientnet-lite0_4x200it_synthvoc-224.py',
     {}),
    # the papers' procedure: 4 scales, flip, padding, label cut, background
    ('configs/wsfcn/wsfcn_efficientnet-lite0_1600it_synthvoc-224.py', {
        'model.test_cfg.scales': (1.0, 0.5, 1.5, 2.0),
        'model.test_cfg.flip': True,
        'model.test_cfg.pad_size': (256, 256)
    }),
    ('configs/wsfcn/ssss_efficientnet-lite0_1600it_synthvoc-224.py', {}),
    # the paper's inference: 3 scales + max map, flip, logits averaged
    ('configs/cian/cian_efficientnet-lite0_2x400it_synthvoc-224.py', {
        'model.test_cfg.scales': (0.75, 1.0, 1.25),
        'model.test_cfg.flip': True,
        'model.test_cfg.merge': 'logit',
        'model.test_cfg.add_max': True
    }),
    # the paper's inference: AN's logits of 5 scales and flips summed
    ('configs/cosa/cosa_efficientnet-lite0_1600it_synthvoc-224.py', {
        'model.test_cfg.scales': (1.0, 0.5, 1.5, 0.75, 1.25),
        'model.test_cfg.flip': True,
        'model.test_cfg.merge': 'logit'
    }),
]
CONFIG_IDS = [
    osp.basename(path)[:-3] + ('_msf' if options else '')
    for path, options in METHOD_CONFIGS
]
PHOTO_SHAPE = (75, 93)  # odd sizes: not a multiple of the output stride
NUM_CLASSES = 21


def _config(path: str, options: dict) -> Config:
    """The method config with random weights (no pretrained init, no
    ``load_from``) and ``options`` merged."""
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.load_from = None
    for part in ('backbone', 'decode_head', 'auxiliary_head'):
        if part in cfg.model:
            cfg.model[part].init_cfg = None
    cfg.merge_from_dict(options)
    return cfg


def _photo(path: str) -> str:
    """Write a random RGB image that is in no dataset."""
    rng = np.random.default_rng(0)
    mmcv.imwrite(rng.integers(0, 256, (*PHOTO_SHAPE, 3), dtype=np.uint8),
                 path)
    return path


def _check_prediction(result) -> None:
    pred = result.pred_sem_seg.data
    assert pred.shape == (1, *PHOTO_SHAPE)
    assert 0 <= pred.min() and pred.max() < NUM_CLASSES


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=2, num_val=2, size=64, seed=1)
    return str(root)


@pytest.fixture(scope='module')
def tools_test():
    spec = importlib.util.spec_from_file_location(
        'tools_test', osp.join(ROOT, 'tools/test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('config, options', METHOD_CONFIGS, ids=CONFIG_IDS)
def test_init_model_and_inference_model(config, options, tmp_path):
    torch.manual_seed(0)
    model = init_model(_config(config, options), None, device='cpu')
    with torch.no_grad():
        _check_prediction(
            inference_model(model, _photo(str(tmp_path / 'photo.jpg'))))
        # an image already in memory (BGR, as mmcv reads it)
        array = mmcv.imread(_photo(str(tmp_path / 'photo.png')))
        _check_prediction(inference_model(model, array))


@pytest.mark.parametrize('config, options', METHOD_CONFIGS, ids=CONFIG_IDS)
def test_mmseg_inferencer(config, options, tmp_path):
    torch.manual_seed(0)
    inferencer = MMSegInferencer(
        model=_config(config, options), weights=None, device='cpu')
    photo = _photo(str(tmp_path / 'photo.png'))
    _check_prediction(inferencer(photo, return_datasamples=True))
    out = inferencer(photo, return_vis=True, out_dir=str(tmp_path / 'out'))
    assert out['predictions'].shape == PHOTO_SHAPE
    assert out['visualization'].shape == (*PHOTO_SHAPE, 3)
    # the painted image and the label map are written
    assert len(list((tmp_path / 'out' / 'vis').glob('*.png'))) == 1
    pred = mmcv.imread(
        next((tmp_path / 'out' / 'pred').glob('*.png')), flag='unchanged')
    np.testing.assert_array_equal(pred, out['predictions'])


def test_cam_classifier_photo_without_the_option_names_it(tmp_path):
    config, _ = METHOD_CONFIGS[0]
    no_fallback = dict(model=dict(test_cfg=dict(predict_missing_labels=False)))
    model = init_model(_config(config, no_fallback), None, device='cpu')
    photo = _photo(str(tmp_path / 'photo.jpg'))
    with pytest.raises(ValueError) as err:
        inference_model(model, photo)
    assert photo in str(err.value)
    assert 'model.test_cfg.use_img_labels=False' in str(err.value)
    assert 'model.test_cfg.predict_missing_labels=True' in str(err.value)


@pytest.mark.parametrize('config, options', METHOD_CONFIGS, ids=CONFIG_IDS)
def test_tools_test_show_dir(config, options, toy_root, tmp_path,
                             tools_test, monkeypatch):
    cfg = _config(config, {})
    cfg.test_dataloader.dataset.data_root = toy_root
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    # a visualizer of its own (mmengine keeps instances by name)
    cfg.visualizer.name = f'visualizer_{tmp_path.name}'
    cfg_file = str(tmp_path / 'config.py')
    cfg.dump(cfg_file)
    torch.manual_seed(0)
    model = init_model(cfg, None, device='cpu')
    ckpt = str(tmp_path / 'random.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    show_dir = tmp_path / 'show'
    monkeypatch.setattr(sys, 'argv', [
        'test.py', cfg_file, ckpt, '--work-dir',
        str(tmp_path / 'work'), '--show-dir',
        str(show_dir)
    ])
    tools_test.main()
    ids = open(osp.join(toy_root, 'ImageSets/Segmentation/val.txt')).read()
    painted = sorted(show_dir.glob('**/*.png'))
    assert len(painted) == len(ids.split())
    for png in painted:
        assert mmcv.imread(png).shape == (64, 128, 3)  # image | prediction


def test_tools_test_tta_refused_with_the_test_cfg_keys(
        tools_test, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', ['test.py', 'cfg.py', 'x.pth', '--tta'])
    with pytest.raises(SystemExit) as exit_:
        tools_test.parse_args()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert 'model.test_cfg.scales=' in err
    assert 'model.test_cfg.flip=True' in err


def test_tools_test_refuses_test_time_keys_the_model_ignores(tools_test):
    stock = _config(METHOD_CONFIGS[1][0], {})
    stock.merge_from_dict({
        'model.type': 'EncoderDecoder',  # stock predict
        'model.test_cfg.flip': True
    })
    with pytest.raises(ValueError, match=r"\['flip'\].*EncoderDecoder"):
        tools_test.check_test_time_keys(stock)
    for config, _ in METHOD_CONFIGS[1:3]:  # TTAEncoderDecoder, AuxSegNet
        cfg = _config(config, {})
        cfg.merge_from_dict({'model.test_cfg.flip': True})
        tools_test.check_test_time_keys(cfg)


def test_cosa_checkpoint_segments_with_its_assignment_network(tmp_path):
    """A saved CoSA checkpoint, loaded by ``init_model`` and
    ``MMSegInferencer``, segments with the AN weights it holds (the default
    ``test_cfg.net``), not with ON's."""
    config, _ = METHOD_CONFIGS[-1]
    cfg = _config(config, {})
    torch.manual_seed(0)
    model = init_model(cfg, None, device='cpu')
    with torch.no_grad():  # AN differs from ON, e.g. after training
        model.assignment_net.decode_head.conv_seg.bias.copy_(
            torch.arange(NUM_CLASSES) * 10.)
    ckpt = str(tmp_path / 'cosa.pth')
    meta = dict(dataset_meta=dict(
        classes=tuple(map(str, range(NUM_CLASSES))),
        palette=[[i, i, i] for i in range(NUM_CLASSES)]))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    photo = _photo(str(tmp_path / 'photo.png'))
    with torch.no_grad():
        expected = inference_model(model, photo).pred_sem_seg.data
        torch.manual_seed(1)
        loaded = init_model(_config(config, {}), ckpt, device='cpu')
        np.testing.assert_array_equal(
            inference_model(loaded, photo).pred_sem_seg.data, expected)
        # the bias makes AN predict the last class everywhere; ON does not
        assert (expected == NUM_CLASSES - 1).all()
        loaded.test_cfg = dict(loaded.test_cfg, net='online')
        assert not (inference_model(loaded, photo).pred_sem_seg.data
                    == NUM_CLASSES - 1).all()
    inferencer = MMSegInferencer(model=cfg, weights=ckpt, device='cpu')
    out = inferencer(photo)
    np.testing.assert_array_equal(out['predictions'], expected[0].numpy())
