# CoSA (paper preset) on SynthVOC under the benchmark protocol
# (docs/benchmarks.md): a single-stage method gets the CAM baseline's
# classifier + segmenter budget in one run, 1,600 iterations of batch 16,
# the paper's share of classification-only warm-up (6k of 32k: 300); the
# protocol's input, geometric augmentation, poly schedule and evaluation.
# Optimiser: the code's AdamW (lr 6e-5, heads x10, weight decay 0.01) by the
# protocol's rule 2: under the protocol's SGD (momentum 0.9, lr 0.01 / 0.1)
# the M-dagger classifier on the unbounded level-5 features diverged to NaN
# within 40 iterations (configs/cosa/README.md). AdamW's rates are the
# code's, as SGD's rates do not carry over to an adaptive optimiser; the
# schedule stays the protocol's poly (no linear LR warm-up as in the code).
# CoSA's own parts: the strong view (one of nine photometric ops) and the
# shared blur, AN at scales 1 / 0.5 / 1.5 + flips, the 2-component GMM
# threshold on a 100-iteration queue, RAW, CSC, lambdas 0.1 / 0.05 / 0.1.
# The EMA keeps the paper's time constant relative to the schedule:
# m = 0.9994 per iteration over 32k iterations is m = 0.9994 ** 20 over
# 1.6k, i.e. mmengine momentum 1 - 0.9994 ** 20 = 0.0119.
_base_ = [
    '../_base_/models/cosa_efficientnet-lite0.py',
    '../_base_/datasets/synthvoc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
max_iters = 1600
warmup_iters = 300  # 1600 * 6000 / 32000
queue_len = 100
crop_size = (224, 224)
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=(256, 256),
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PILGaussianBlur', prob=0.5, radius=(0.1, 2.0)),
    dict(type='WeakStrongViews'),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
model = dict(
    ema_momentum=1 - 0.9994**20,
    threshold=dict(queue_len=queue_len))
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=6e-5,
        betas=(0.9, 0.999),
        weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'decode_head': dict(lr_mult=10.),
            'cam_head': dict(lr_mult=10.)
        }))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=200))
custom_hooks = [
    dict(type='EMAAssignmentHook'),
    dict(type='GMMThresholdHook', interval=1),
    dict(type='LossWarmupHook', warmup_iters=warmup_iters, lead=queue_len)
]
