"""The WS-FCN / SSSS configs: every file loads and builds, the schedules
are the paper's and the benchmark's, and the table rows change what their
row names (training runs: tests/test_e2e/test_wsfcn_e2e.py)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine import Config
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FOLDER = osp.join(ROOT, 'configs', 'wsfcn')
CONFIGS = sorted(
    p for p in glob.glob(osp.join(FOLDER, '**', '*.py'), recursive=True)
    if '/mixing/' not in p)
VOC = osp.join(FOLDER, 'wsfcn_wideresnet38_30ep_voc12aug-321.py')
SYNTH = osp.join(FOLDER, 'wsfcn_efficientnet-lite0_1600it_synthvoc-224.py')
CAM_CLS = osp.join(ROOT, 'configs', 'cam_baseline',
                   'cam_efficientnet-lite0_800it_synthvoc-224.py')


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _rel(path):
    return osp.relpath(path, ROOT)


def _head_parts(cfg):
    head = cfg.model.decode_head
    return head.context_cfg.type, head.fusion_cfg.type


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {
        'wsfcn_wideresnet38_30ep_voc12aug-321.py',
        'wsfcn_wideresnet38_30ep_coco14-321.py',
        'ssss_wideresnet38_30ep_voc12aug-321.py',
        'ssss_wideresnet38_24ep_voc12aug-321.py',
        'ssss_wideresnet38_30ep_coco14-321.py',
        'wsfcn_efficientnet-lite0_1600it_synthvoc-224.py',
        'ssss_efficientnet-lite0_1600it_synthvoc-224.py',
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    # WideResNet-38 without allocating it
    device = 'meta' if 'wideresnet38' in path else 'cpu'
    with torch.device(device):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'WSFCN'
    assert model.decode_head.num_classes == (81 if 'coco' in path else 21)


def test_paper_schedule():
    cfg = Config.fromfile(VOC)
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.custom_hooks == [dict(type='LossWarmupHook', warmup_epochs=7)]
    assert cfg.param_scheduler == []  # constant learning rate
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4)
    assert cfg.optim_wrapper.constructor == 'SSSSOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.lr_mults == (1, 2, 20, 40)
    crop = [t for t in cfg.train_dataloader.dataset.pipeline
            if t.type == 'RandomResizedCrop']
    assert crop[0].scale == 321 and crop[0].crop_ratio_range == (0.9, 1.0)
    test = cfg.model.test_cfg
    assert test.scales == (1.0, 0.5, 1.5, 2.0) and test.flip
    assert test.pad_size == (1024, 1024) and test.fp_cut_score == 0.1
    assert (test.bg_mode, test.bg_value) == ('const', 0.25)
    assert cfg.model.decode_head.align_corners  # the code's upsampling
    # per-rank dropout / gate masks under DDP (WS-FCN configs only: it
    # changes mmengine's sampler seeding)
    assert cfg.randomness == dict(seed=0, diff_rank_seed=True)
    runtime = Config.fromfile(osp.join(ROOT,
                                       'configs/_base_/default_runtime.py'))
    assert runtime.randomness == dict(seed=0)
    ssss = Config.fromfile(osp.join(FOLDER,
                                    'ssss_wideresnet38_24ep_voc12aug-321.py'))
    assert ssss.train_cfg.max_epochs == 24
    assert ssss.custom_hooks[0].warmup_epochs == 5
    # the SSSS release's multipliers (WS-FCN doubled the new layers')
    assert ssss.optim_wrapper.paramwise_cfg.lr_mults == (1, 2, 10, 20)
    assert (ssss.model.test_cfg.bg_mode, ssss.model.test_cfg.bg_pow) == (
        'pow', 3)
    assert _head_parts(ssss) == ('ASPPContext', 'SkipGCIFusion')


def test_coco_settings():
    cfg = Config.fromfile(
        osp.join(FOLDER, 'wsfcn_wideresnet38_30ep_coco14-321.py'))
    head = cfg.model.decode_head
    assert head.focal_lambda == 0.1 and head.pamr_cfg.num_iter == 5
    assert head.pseudo_gt_cfg == dict(fg_ratio=0.6, bg_ratio=0.8, floor=0.1)
    assert cfg.train_dataloader.dataset.type == 'WSSSCOCODataset'
    # COCO images reach 640 px: the scale-2 pass must fit the padding
    assert min(cfg.model.test_cfg.pad_size) >= 2 * 640


def test_synthvoc_protocol():
    """1,600 iterations (classifier + segmenter budget), 7/30 of them
    classification only, the protocol's optimiser and pipeline."""
    cfg, cam = Config.fromfile(SYNTH), Config.fromfile(CAM_CLS)
    assert cfg.train_cfg.max_iters == 1600
    assert cfg.param_scheduler[0].end == 1600
    assert cfg.custom_hooks == [
        dict(type='LossWarmupHook', warmup_iters=round(1600 * 7 / 30))
    ]
    assert cfg.optim_wrapper == cam.optim_wrapper
    assert cfg.train_dataloader.batch_size == cam.train_dataloader.batch_size
    assert (cfg.train_dataloader.dataset.pipeline ==
            cam.train_dataloader.dataset.pipeline)
    assert cfg.model.backbone == cam.model.backbone | dict(out_indices=(1, 7))
    assert cfg.model.test_cfg.scales == (1.0, ) and not cfg.model.test_cfg.flip


@pytest.mark.parametrize('setup', [
    'wideresnet38_30ep_voc12aug-321', 'efficientnet-lite0_1600it_synthvoc-224'
])
def test_table_rows(setup):
    """Table I / II rows change the context or fusion their name says."""
    main = Config.fromfile(osp.join(FOLDER, f'wsfcn_{setup}.py'))
    assert _head_parts(main) == ('FCA', 'SF2Fusion')
    rows_test_cfg = Config.fromfile(
        osp.join(FOLDER, 'ablations', f'fca_{setup}.py')).model.test_cfg
    assert rows_test_cfg.bg_mode == 'const'
    if 'voc12aug' in setup:  # Table I / II: single scale with flip
        assert rows_test_cfg.scales == (1.0, ) and rows_test_cfg.flip
    expected = {
        'baseline': ('ASPPContext', 'SkipGCIFusion'),
        'fca-mclm': ('FCA', 'SkipGCIFusion'),
        'fca': ('FCA', 'SkipGCIFusion'),
        'sf2': ('ASPPContext', 'SF2Fusion'),
        'context-nonlocal': ('NonLocalContext', 'SkipGCIFusion'),
        'context-large-kernel': ('LargeKernelContext', 'SkipGCIFusion'),
        'context-ppm': ('PPMContext', 'SkipGCIFusion'),
        'fusion-sum': ('ASPPContext', 'SF2Fusion'),
        'fusion-concat': ('ASPPContext', 'SF2Fusion'),
        'fusion-mul': ('ASPPContext', 'SF2Fusion'),
    }
    for row, parts in expected.items():
        cfg = Config.fromfile(
            osp.join(FOLDER, 'ablations', f'{row}_{setup}.py'))
        assert _head_parts(cfg) == parts, row
        context = cfg.model.decode_head.context_cfg
        fusion = cfg.model.decode_head.fusion_cfg
        assert context.get('with_srm', True) == (row != 'fca-mclm')
        if row.startswith('fusion-'):
            assert fusion.fuse_mode == row[len('fusion-'):]
            assert fusion.align is False
        elif fusion.type == 'SF2Fusion':
            assert fusion.get('fuse_mode', 'mul') == 'mul'
            assert fusion.get('align', True)
        assert cfg.train_cfg == main.train_cfg
        assert cfg.optim_wrapper == main.optim_wrapper
        # every row is evaluated alike (background, scales, flip)
        assert cfg.model.test_cfg == rows_test_cfg
        # DDP needs unused parameters found only with FCA's unused BNs
        assert cfg.find_unused_parameters == (parts[0] == 'FCA')
