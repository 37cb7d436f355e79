"""The CIAN configs: every file loads and builds, the SynthVOC protocol
split (classifier 800 + 400 + 400 segmenter iterations), the paper's
settings, and the Table 2 / 3 rows change what their names say."""
import glob
import os.path as osp

import pytest
import torch
from mmengine import Config
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS
from mmseg_wsss.datasets.samplers import check_group_batch_size

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FOLDER = osp.join(ROOT, 'configs', 'cian')
CONFIGS = sorted(glob.glob(osp.join(FOLDER, '**', '*.py'), recursive=True))
SYNTH = osp.join(FOLDER, 'cian_efficientnet-lite0_2x400it_synthvoc-224.py')
VOC = osp.join(FOLDER, 'cian_r101-d8_2x20ep_voc12aug-321.py')
CAM_CLS = osp.join(ROOT, 'configs', 'cam_baseline',
                   'cam_efficientnet-lite0_800it_synthvoc-224.py')
LARGEFOV = osp.join(ROOT, 'configs', 'cam_baseline',
                    'largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py')


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    cfg.model.pop('pretrained', None)
    cfg.model.backbone.init_cfg = None
    device = 'meta' if ('r101' in path or 'r50' in path
                        or 'wideresnet' in path) else 'cpu'
    with torch.device(device):
        MODELS.build(cfg.model)
    if 'seeds' not in path and 'largefov' not in path:
        assert cfg.model.decode_head.type in ('CIANHead', 'CIANWrapperHead')
        assert check_group_batch_size(cfg.train_dataloader) == 2


def test_synthvoc_protocol():
    cfg, seg = Config.fromfile(SYNTH), Config.fromfile(LARGEFOV)
    assert (cfg.train_cfg.stage_iters, cfg.train_cfg.num_stages) == (400, 2)
    assert cfg.param_scheduler.stage_iters == 400
    assert cfg.optim_wrapper == seg.optim_wrapper
    assert cfg.train_dataloader.batch_size == seg.train_dataloader.batch_size
    assert (cfg.train_dataloader.dataset.pipeline ==
            seg.train_dataloader.dataset.pipeline)
    assert cfg.model.backbone == seg.model.backbone
    assert cfg.model.test_cfg == dict(mode='whole')  # single scale
    hook = cfg.custom_hooks[0]
    assert hook.type == 'PseudoLabelUpdateHook' and not hook.generate_at_start
    assert hook.generator == dict(
        type='SegmentationLabelGenerator', scales=(0.75, 1.0, 1.25),
        flip=True, merge='logit', add_max=True, crf=dict(num_iters=10))
    seeds = Config.fromfile(
        osp.join(FOLDER,
                 'cian-seeds_efficientnet-lite0_800it_synthvoc-224.py'))
    assert seeds.model == Config.fromfile(CAM_CLS).model  # the CAM classifier
    assert seeds.label_generator.rule == dict(
        type='cian', cam_thr=0.3, bg_sal_thr=0.06, overlap='ignore')
    assert (seeds.label_generator.scales, seeds.label_generator.flip) == (
        (1.0, ), False)


def test_paper_settings():
    cfg = Config.fromfile(VOC)
    assert cfg.train_cfg.stage_iters == 10582 // 16 * 20
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=5e-4, momentum=0.9, weight_decay=5e-4)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
        'decode_head': dict(lr_mult=10.)
    }
    head = cfg.model.decode_head
    assert (head.dilation, head.embed_ratio, head.kv_pool) == (12, 0.5, True)
    assert cfg.model.backbone.norm_cfg.requires_grad is False
    test = cfg.model.test_cfg
    assert test.scales == (0.75, 1.0, 1.25) and test.flip and test.add_max
    assert test['merge'] == 'logit' and test.crf == dict(num_iters=5)


@pytest.mark.parametrize('setup', ['efficientnet-lite0_1x400it_synthvoc-224',
                                   'r101-d8_1x20ep_voc12aug-321'])
def test_table_rows(setup):
    expected = {
        'self-affinity': (False, True, 'common'),
        'ce': (True, False, 'common'),
        'full': (True, True, 'common'),
        'random-ce': (True, False, 'random'),
        'random-full': (True, True, 'random'),
    }
    for row, (cross, completion, pairing) in expected.items():
        cfg = Config.fromfile(osp.join(FOLDER, 'ablations',
                                       f'{row}_{setup}.py'))
        head = cfg.model.decode_head
        assert (head.use_cross, head.use_completion) == (cross, completion)
        assert cfg.train_dataloader.sampler.get('pairing',
                                                'common') == pairing
        assert cfg.train_cfg.num_stages == 1 and cfg.custom_hooks == []


def test_test_time_rows():
    cfg = Config.fromfile(
        osp.join(FOLDER, 'ablations',
                 'test-msf-crf_efficientnet-lite0_2x400it_synthvoc-224.py'))
    test = cfg.model.test_cfg
    assert test.scales == (0.75, 1.0, 1.25) and test.flip and test.add_max
    assert test['merge'] == 'logit' and test.crf == dict(num_iters=5)
    assert cfg.model.decode_head == Config.fromfile(SYNTH).model.decode_head
