"""The AuxSegNet(+) configs: every file loads and builds, the stage-wise
ones are consistent, and the mixing example (stock mmseg DeepLabV3 with a
DualAffinityHead over two stock ASPP heads) trains and predicts."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine import Config
from mmengine.registry import init_default_scope

import mmseg_wsss  # noqa: F401,I001  (before mmseg.models: mmcv-lite shims)
from mmseg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIXING = osp.join(ROOT, 'configs', 'auxsegnet_plus',
                  'deeplabv3_r50-d8_dual-affinity_voc12aug-512.py')
CONFIGS = sorted(
    path for folder in ('auxsegnet_plus', 'auxsegnet')
    for path in glob.glob(
        osp.join(ROOT, 'configs', folder, '**', '*.py'), recursive=True))
K = 21
DECODE_TERMS = {
    'decode.loss_seg', 'decode.loss_seg_pair', 'decode.loss_seg_unary',
    'decode.loss_sal', 'decode.loss_sal_pair', 'decode.loss_sal_unary'
}


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _rel(path):
    return osp.relpath(path, ROOT)


def _hooks(cfg, type_):
    return [h for h in cfg.get('custom_hooks', []) if h['type'] == type_]


def _build(model_cfg):
    """Build without pretrained weights (a WideResNet-38 takes ~2 s)."""
    model_cfg = model_cfg.copy()
    model_cfg['pretrained'] = None
    model_cfg['backbone']['init_cfg'] = None
    return MODELS.build(model_cfg)


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {
        'auxsegnet-plus_wideresnet38_cls_voc12aug-448.py',
        'auxsegnet-plus_wideresnet38_4x15ep_voc12aug-321.py',
        'auxsegnet-plus_wideresnet38_cls_coco14-448.py',
        'auxsegnet-plus_wideresnet38_4x15ep_coco14-321.py',
        'auxsegnet_wideresnet38_4x15ep_voc12aug-321.py',
        'auxsegnet_wideresnet38_4x15ep_coco14-321.py',
        'deeplabv3_r50-d8_dual-affinity_voc12aug-512.py',
        'deeplabv3_r50-d8_dual-affinity_cls_voc12aug-512.py',
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    model = _build(cfg.model)
    num_classes = model.decode_head.num_classes
    if model.with_auxiliary_head:
        assert model.auxiliary_head.num_classes == num_classes


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_stagewise_config_is_consistent(path):
    cfg = Config.fromfile(path)
    hooks = _hooks(cfg, 'PseudoLabelUpdateHook')
    if hooks:
        assert len(hooks) == 1
        hook = hooks[0]
        # the workers would keep the dataset copy of the first stage
        assert cfg.train_dataloader.get('persistent_workers') is False
        assert cfg.train_cfg.type == 'StagewiseTrainLoop'
        stage_iters = cfg.train_cfg.stage_iters
        assert stage_iters % cfg.default_hooks.checkpoint.interval == 0
        assert cfg.default_hooks.checkpoint.max_keep_ckpts >= \
            cfg.train_cfg.num_stages
        schedulers = cfg.param_scheduler
        for sched in ([schedulers] if isinstance(schedulers, dict) else
                      schedulers):
            if sched['type'] == 'StagewisePolyLR':
                assert sched['stage_iters'] == stage_iters
        pipeline = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
        assert 'LoadPseudoLabel' in pipeline
        assert 'LoadAnnotations' not in pipeline
        if cfg.model.decode_head.get('use_sal_branch', True):
            assert 'LoadSaliencyMap' in pipeline
            assert cfg.train_dataloader.dataset.get('saliency_dir')
    # a phase (a) checkpoint comes from a config here, saved at its last
    # iteration
    match = re.fullmatch(r'work_dirs/(.+)/iter_(\d+)\.pth',
                         cfg.get('load_from') or '')
    if match:
        sources = [p for p in CONFIGS
                   if osp.basename(p) == match.group(1) + '.py']
        assert len(sources) == 1, match.group(1)
        source = Config.fromfile(sources[0])
        assert source.train_cfg.max_iters == int(match.group(2))
        assert source.model.train_cfg.stage == 'cls'


@pytest.mark.parametrize('name', [
    'auxsegnet_plus/auxsegnet-plus_wideresnet38_4x15ep_voc12aug-321.py',
    'auxsegnet_plus/auxsegnet-plus_wideresnet38_4x15ep_coco14-321.py',
    'auxsegnet/auxsegnet_wideresnet38_4x15ep_voc12aug-321.py',
    'auxsegnet/auxsegnet_wideresnet38_4x15ep_coco14-321.py',
])
def test_wrn38_paper_configs(name):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
    plus = name.startswith('auxsegnet_plus')
    coco = 'coco14' in name
    head = cfg.model.decode_head
    assert head.affinity_mode == ('dual' if plus else 'pairwise')
    assert head.num_classes == (81 if coco else 21)
    assert cfg.model.backbone.frozen_stages == 0
    assert cfg.model.backbone.norm_eval and cfg.model.backbone.frozen_bn_params
    hook, = _hooks(cfg, 'PseudoLabelUpdateHook')
    scales = (1.0, 0.5, 1.5) if plus else (1.0, )
    assert tuple(hook['generator']['scales']) == scales
    assert tuple(hook['init_generator']['scales']) == scales
    assert not hook['init_generator']['refine']
    assert not hook['init_generator']['update_saliency']
    assert cfg.train_cfg.stage_iters == (82081 if coco else 10582) // 4 * 15
    assert cfg.train_cfg.num_stages == 4
    assert cfg.train_dataloader.batch_size == 4
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == (7e-4, 0., 0.)
    assert cfg.model.test_cfg.scales == (0.5, 1.0, 1.5)
    assert cfg.model.test_cfg.flip is True
    # the lr_mult keys name parameters: the fusion convs at 1x (both fusion
    # modules in dual mode), every other head parameter at 10x
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys['decode_head.affinity.fusion'].lr_mult == 1.
    assert keys['decode_head'].lr_mult == keys['auxiliary_head'].lr_mult == 10.
    head = MODELS.build(dict(head, in_channels=16, channels=8))
    # the official code's branches: 3x3 convs (rates 6, 12; 18 after the
    # affinity module) with bias and ReLU, no norm layer
    for task in ('seg', 'sal'):
        convs = list(head.branches[task]) + [head.post_convs[task]]
        assert [m.conv.dilation[0] for m in convs] == [6, 12, 18]
        for module in convs:
            assert module.conv.kernel_size == (3, 3)
            assert module.conv.bias is not None and not module.with_norm
            assert isinstance(module.activate, torch.nn.ReLU)
    names = ['decode_head.' + n for n, _ in head.named_parameters()]
    fusion = {n.split('.')[2] for n in names if 'affinity.fusion' in n}
    assert fusion == ({'fusion_pair', 'fusion_unary'} if plus else
                      {'fusion_pair'})


# --------------------------------------------------------------------------
# the mixing example, shrunk: ResNetV1c-18 a few channels wide, 33 x 33


def _mixing_model():
    cfg = Config.fromfile(MIXING)
    model = cfg.model
    model.pretrained = None
    model.backbone.update(
        depth=18, stem_channels=8, base_channels=4, init_cfg=None)
    model.decode_head.update(in_channels=32, channels=16, affinity_channels=8)
    model.decode_head.branch.channels = 16
    model.auxiliary_head.in_channels = 32
    torch.manual_seed(0)
    return MODELS.build(model)




def test_mixing_config_keeps_stock_parts():
    cfg = Config.fromfile(MIXING)
    assert cfg.model.type == 'AuxSegNet'
    assert cfg.model.backbone.type == 'ResNetV1c'
    assert cfg.model.backbone.depth == 50
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.data_preprocessor.type == 'WSSSDataPreProcessor'
    assert cfg.model.decode_head.type == 'DualAffinityHead'
    assert cfg.model.decode_head.branch.type == 'ASPPHead'
    assert cfg.model.decode_head.branch.dilations == (1, 12, 24, 36)
    # _delete_ dropped the stock ASPP / FCN head keys
    assert 'dilations' not in cfg.model.decode_head
    assert cfg.model.auxiliary_head.type == 'CAMHead'
    assert 'num_convs' not in cfg.model.auxiliary_head
    assert cfg.train_cfg.type == 'StagewiseTrainLoop'
    assert cfg.train_cfg.stage_iters == 10582 // 16 * 15


def test_mixing_model_trains_and_predicts(wsss_samples):
    model = _mixing_model()
    head = model.decode_head
    for task in ('seg', 'sal'):
        branch = head.branches[task]
        assert isinstance(branch[0].head, MODELS.get('ASPPHead'))
        # the stock classifier is gone (a parameter-free stand-in)
        assert not list(branch[0].head.conv_seg.parameters())
        # 16 ASPP channels projected to the 8 of the affinity module
        assert (branch[1].conv.in_channels,
                branch[1].conv.out_channels) == (16, 8)
    assert head.branches['seg'][0].head is not head.branches['sal'][0].head
    state = model.state_dict()
    for task in ('seg', 'sal'):
        for part in ('image_pool', 'aspp_modules.3', 'bottleneck'):
            prefix = f'decode_head.branches.{task}.0.head.{part}.'
            assert any(k.startswith(prefix) for k in state), prefix

    inputs = torch.randn(2, 3, 33, 33)
    model.train()
    losses = model.loss(inputs, wsss_samples(2, 33))
    assert {k for k in losses if 'loss' in k} == DECODE_TERMS | {
        'aux.loss_cls'
    }
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    missing = [
        name for name, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not missing, missing
    for name, p in model.named_parameters():
        if name.startswith('decode_head.branches.'):
            assert p.grad.abs().sum() > 0, name

    model.eval()
    with torch.no_grad():
        results = model.predict(inputs, wsss_samples(2, 33, with_pixels=False))
    assert len(results) == 2
    for result in results:
        assert result.seg_logits.data.shape == (K, 33, 33)
        assert result.pred_sem_seg.data.shape == (1, 33, 33)
