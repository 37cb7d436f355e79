"""The CoSA configs: every file builds its model and optimiser, the presets
carry the paper's and the released code's numbers (cosa.md 1.2, 1.3, 3),
the SynthVOC config the benchmark protocol's, and every ablation row
changes only what its name says (training runs:
tests/test_e2e/test_cosa_e2e.py)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FOLDER = osp.join(ROOT, 'configs', 'cosa')
# CoSA models; mixing/ holds stock mmseg models (tests/test_e2e/
# test_raw_mixing_e2e.py)
CONFIGS = sorted(
    p for p in glob.glob(osp.join(FOLDER, '**', '*.py'), recursive=True)
    if '/mixing/' not in p)
VOC = osp.join(FOLDER, 'cosa_vitb16_2xb2-32k_voc12aug-448.py')
COCO = osp.join(FOLDER, 'cosa_vitb16_2xb4-60k_coco14-448.py')
VOC_CODE = osp.join(FOLDER, 'cosa-code_vitb16_2xb2-32k_voc12aug-448.py')
COCO_CODE = osp.join(FOLDER, 'cosa-code_vitb16_2xb4-60k_coco14-448.py')
SYNTH = osp.join(FOLDER, 'cosa_efficientnet-lite0_1600it_synthvoc-224.py')
CAM_CLS = osp.join(ROOT, 'configs', 'cam_baseline',
                   'cam_efficientnet-lite0_800it_synthvoc-224.py')
LARGEFOV = osp.join(ROOT, 'configs', 'cam_baseline',
                    'largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py')
LARGEFOV_ADAMW = LARGEFOV.replace('_pseudo.py', '_pseudo_adamw.py')
PAPER_TEST_SCALES = (1.0, 0.5, 1.5, 0.75, 1.25)
# the rest of the config that an ablation row must keep
RUN_KEYS = ('train_cfg', 'optim_wrapper', 'param_scheduler', 'custom_hooks',
            'train_dataloader', 'val_dataloader', 'test_dataloader',
            'default_hooks', 'randomness')

PAPER = dict(
    ema_momentum=0.0006,
    threshold=('gmm2', 0.5),
    threshold_aux=('gmm2', 0.5),
    raw_weighting=True,
    aux_c2s_reduce='sum',
    loss_c2s=('RAWCrossEntropyLoss', 0.1),
    loss_s2c=('Seg2CAMLoss', 0.05),
    loss_csc=('ContrastiveSeparationLoss', 0.1),
    loss_reg=None,
    spl_tau=0.01,
    s2c_detach=None,
    aux_last_scale_only=False,
    relu_before_sigmoid=False,
    mask_absent_classes=False)
CODE = dict(
    PAPER,
    threshold=('fixed', (0.2, 0.7)),
    threshold_aux=('fixed', (0.25, 0.7)),
    raw_weighting=False,
    aux_c2s_reduce='mean',
    loss_c2s=('FgBgBalancedCELoss', 0.1),
    loss_csc=None,
    loss_reg=('DenseEnergyLoss', 0.05),
    spl_tau=0.01 / 6,
    aux_last_scale_only=True,
    relu_before_sigmoid=True,
    mask_absent_classes=True)
SYNTH_MODEL = dict(PAPER, ema_momentum=1 - 0.9994**20)
FIXED = {xi: ('fixed', xi) for xi in (0.3, 0.4, 0.5, 0.6, 0.7)}
# per config: the model it builds (see _summary)
EXPECTED = {
    VOC: PAPER,
    COCO: PAPER,
    VOC_CODE: CODE,
    COCO_CODE: dict(CODE, threshold=('fixed', (0.25, 0.65))),
    SYNTH: SYNTH_MODEL,
}
# ablation row: its differences from the SynthVOC model
ROWS = {
    'wo-sa': dict(ema_momentum=1.0),
    'wo-raw': dict(raw_weighting=False),
    'wo-csc': dict(loss_csc=None),
    'vanilla-cam': dict(loss_s2c=None, relu_before_sigmoid=None),
    's2c-detach-features': dict(s2c_detach='features'),
    's2c-detach-classifier': dict(s2c_detach='classifier'),
    'cam2seg-baseline': dict(
        ema_momentum=1.0,
        threshold=FIXED[0.5],
        threshold_aux=FIXED[0.5],
        raw_weighting=False,
        loss_s2c=None,
        relu_before_sigmoid=None,
        loss_csc=None),
}
ROWS.update({
    f'fixed-threshold-{xi}': dict(threshold=fixed, threshold_aux=fixed)
    for xi, fixed in FIXED.items()
})
for row, changes in ROWS.items():
    EXPECTED[osp.join(FOLDER, 'ablations',
                      f'{row}_efficientnet-lite0_1600it_synthvoc-224.py')] = \
        dict(SYNTH_MODEL, **changes)


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _rel(path):
    return osp.relpath(path, ROOT)


def _hooks(cfg):
    return {hook.type: hook for hook in cfg.custom_hooks}


def _trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _loss(module):
    return None if module is None else (type(module).__name__,
                                        module.loss_weight)


def _summary(model) -> dict:
    """What a built CoSA model does, in the keys of :data:`EXPECTED`."""
    trackers = {
        name: (tracker.threshold_mode, tracker.current())
        for name, tracker in (('threshold', model.threshold),
                              ('threshold_aux', model.threshold_aux))
    }
    s2c = model.loss_s2c
    return dict(
        trackers,
        ema_momentum=model.assignment.momentum,
        raw_weighting=model.raw_weighting,
        aux_c2s_reduce=model.aux_c2s_reduce,
        loss_c2s=_loss(model.loss_c2s),
        loss_s2c=_loss(s2c),
        loss_csc=_loss(model.loss_csc),
        loss_reg=_loss(model.loss_reg),
        spl_tau=model.spl_tau,
        s2c_detach=model.s2c_detach,
        aux_last_scale_only=model.aux_last_scale_only,
        relu_before_sigmoid=None if s2c is None else s2c.relu_before_sigmoid,
        mask_absent_classes=model.test_cfg.get('mask_absent_classes', False))


def test_configs_found():
    assert set(EXPECTED) == set(CONFIGS)


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_config_builds(path):
    """The model and its optimiser: the presets' settings, AN frozen, the
    heads at 10x the base learning rate and nothing else; the ViT-B/16 VOC
    model has 91,587,072 trainable parameters (cosa.md 6, property 1)."""
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CoSA'
    assert _summary(model) == EXPECTED[path]
    num_classes = 81 if 'coco' in path else 21
    assert model.num_classes == num_classes
    assert model.online.cam_head.num_classes == num_classes
    assert not any(p.requires_grad for p in model.assignment.parameters())
    if 'vitb16' in path:
        assert not model.online.backbone.pos_embed.requires_grad
        # ViT-B/16 + LargeFOV 768 -> 512 -> 512 -> C + two 768 -> C - 1
        assert _trainable(model.online) == (85_647_360 + 5_898_240 +
                                            512 * num_classes + 2 * 768 *
                                            (num_classes - 1))
        if num_classes == 21:
            assert _trainable(model.online) == 91_587_072
    assert _trainable(model) == _trainable(model.online)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    base = cfg.optim_wrapper.optimizer.lr
    lr = {
        id(param): group['lr']
        for group in wrapper.optimizer.param_groups
        for param in group['params']
    }
    heads = ('online.decode_head.', 'online.cam_head.')
    for name, param in model.named_parameters():
        if param.requires_grad:
            expected = base * 10 if name.startswith(heads) else base
            assert lr[id(param)] == pytest.approx(expected), name


@pytest.mark.parametrize('path, iters, warmup, batch', [
    (VOC, 32_000, 6_000, 2),
    (COCO, 60_000, 10_000, 4),
])
def test_paper_schedule(path, iters, warmup, batch):
    """AdamW 6e-5 (heads x10), 1,500 linear warm-up iterations then poly to
    the end, 32k / 60k iterations of 2 x 2 / 2 x 4 images, the first 6k /
    10k classification only with AN and the 100-iteration queue starting
    100 before, EMA and threshold refits every iteration; 448 crops of
    images rescaled by U(0.5, 2); test at 448 x 448, 5 scales and flips."""
    cfg = Config.fromfile(path)
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
        'online.decode_head': dict(lr_mult=10.),
        'online.cam_head': dict(lr_mult=10.)
    }
    assert cfg.param_scheduler == [
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
             end=1500),
        dict(type='PolyLR', power=0.9, eta_min=0., by_epoch=False,
             begin=1500, end=iters)
    ]
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == iters
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.custom_hooks == [
        dict(type='EMAAssignmentHook'),
        dict(type='GMMThresholdHook', interval=1),
        dict(type='LossWarmupHook', warmup_iters=warmup, lead=100)
    ]
    assert cfg.model.ema_momentum == pytest.approx(1 - 0.9994)
    tracker = MODELS.build(cfg.model.threshold)
    assert (tracker.queue_len, tracker.init_xi, tracker.downsample,
            tracker.filter_thre, tracker.xi_ema) == (100, 0.5, 16, 0.05, 0.)
    assert cfg.model.pseudo_scales == (1.0, 0.5, 1.5)
    pipeline = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert list(pipeline)[-2:] == ['WeakStrongViews', 'PackWSSSInputs']
    assert pipeline['RandomRescale'].ratio_range == (0.5, 2.0)
    assert pipeline['RandomCrop'].crop_size == (448, 448)
    assert pipeline['PILGaussianBlur'].prob == 0.5
    assert pipeline['PILGaussianBlur'].radius == (0.1, 2.0)
    assert cfg.model.data_preprocessor.size == (448, 448)
    resize = [
        t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize'
    ]
    assert resize == [dict(type='Resize', scale=(448, 448), keep_ratio=False)]
    test = cfg.model.test_cfg
    assert test.net == 'assignment' and test['merge'] == 'logit'
    assert test.scales == PAPER_TEST_SCALES and test.flip


@pytest.mark.parametrize('paper, code, warmup', [(VOC, VOC_CODE, 6_000),
                                                 (COCO, COCO_CODE, 10_000)])
def test_code_preset_schedule(paper, code, warmup):
    """The released code: the paper preset's run, its ``iter <= warmup``
    warm-up (one iteration more) and no threshold refits (fixed)."""
    paper, code = Config.fromfile(paper), Config.fromfile(code)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader', 'test_dataloader'):
        assert code[key] == paper[key], key
    assert code.custom_hooks == [
        dict(type='EMAAssignmentHook'),
        dict(type='LossWarmupHook', warmup_iters=warmup + 1)
    ]
    assert code.model.test_cfg.scales == PAPER_TEST_SCALES


def test_synthvoc_protocol():
    """1,600 iterations of batch 16 (the CAM baseline's classifier +
    segmenter budget), 300 of them classification only (6k / 32k) with AN
    from 100 before, EMA m = 0.9994 ** 20 per iteration (the paper's time
    constant over 1/20 of the iterations); the code's AdamW (protocol rule
    2) under the protocol's poly schedule, the protocol's data and LargeFOV
    segmenter, heads at 10x; the CAM-baseline segmenter of its like-for-like
    row has the same optimiser."""
    cfg, cam = Config.fromfile(SYNTH), Config.fromfile(CAM_CLS)
    largefov = Config.fromfile(LARGEFOV)
    assert cfg.train_cfg.max_iters == 1600
    assert cfg.param_scheduler == [
        dict(type='PolyLR', eta_min=0., power=0.9, begin=0, end=1600,
             by_epoch=False)
    ]
    assert _hooks(cfg)['LossWarmupHook'] == dict(
        type='LossWarmupHook', warmup_iters=1600 * 6_000 // 32_000, lead=100)
    assert _hooks(cfg)['LossWarmupHook'].warmup_iters == 300
    assert _hooks(cfg)['GMMThresholdHook'].interval == 1
    assert 'EMAAssignmentHook' in _hooks(cfg)
    assert cfg.model.ema_momentum == pytest.approx(0.0119, abs=1e-4)
    assert cfg.model.threshold.queue_len == 100
    assert cfg.optim_wrapper.optimizer == Config.fromfile(
        VOC).optim_wrapper.optimizer
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert Config.fromfile(LARGEFOV_ADAMW).optim_wrapper == dict(
        largefov.optim_wrapper, optimizer=cfg.optim_wrapper.optimizer)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
        'decode_head': dict(lr_mult=10.),
        'cam_head': dict(lr_mult=10.)
    }
    assert cfg.train_dataloader.batch_size == cam.train_dataloader.batch_size
    assert cfg.train_dataloader.batch_size == 16
    views = ('PILGaussianBlur', 'WeakStrongViews')
    assert [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t.type not in views
    ] == cam.train_dataloader.dataset.pipeline
    assert cfg.test_dataloader == cam.test_dataloader
    assert cfg.model.backbone == cam.model.backbone | dict(out_indices=(5, 7))
    head = dict(largefov.model.decode_head, in_index=1)
    head.pop('loss_decode')
    assert cfg.model.decode_head == head
    assert cfg.model.test_cfg.scales == (1.0, ) and not cfg.model.test_cfg.flip


@pytest.mark.parametrize('row', sorted(ROWS))
def test_ablation_rows_keep_the_run(row):
    """A row differs from the SynthVOC config in its model only."""
    main = Config.fromfile(SYNTH)
    cfg = Config.fromfile(
        osp.join(FOLDER, 'ablations',
                 f'{row}_efficientnet-lite0_1600it_synthvoc-224.py'))
    for key in RUN_KEYS:
        assert cfg[key] == main[key], key
    for key in ('backbone', 'decode_head', 'cam_head', 'data_preprocessor',
                'test_cfg'):
        assert cfg.model[key] == main.model[key], key
