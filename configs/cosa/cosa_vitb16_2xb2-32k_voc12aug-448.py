# CoSA, paper preset (cosa.md 1.2, 3): ViT-B/16 on VOC 2012 aug, 2 GPUs x 2
# images (tools/dist_train.sh CONFIG 2), 448 crops, 32k iterations, the
# first 6k classification only; AdamW 6e-5 (heads x10), 1,500-iteration
# linear warm-up then poly; EMA m = 0.9994 every iteration; GMM threshold
# (2 components, 100-iteration queue), RAW, contrastive separation.
_base_ = [
    '../_base_/models/cosa_vitb16.py', '../_base_/datasets/voc12aug_wsss.py',
    '../_base_/default_runtime.py'
]
max_iters = 32000
warmup_iters = 6000
queue_len = 100
crop_size = (448, 448)
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(type='RandomRescale', ratio_range=(0.5, 2.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PILGaussianBlur', prob=0.5, radius=(0.1, 2.0)),
    dict(type='WeakStrongViews'),
    dict(type='PackWSSSInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageLevelLabels', allow_missing=True),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(threshold=dict(queue_len=queue_len))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'online.decode_head': dict(lr_mult=10.),
            'online.cam_head': dict(lr_mult=10.)
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=False,
        begin=0,
        end=1500),
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.,
        by_epoch=False,
        begin=1500,
        end=max_iters)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=4000,
        max_keep_ckpts=2,
        save_last=True))
custom_hooks = [
    dict(type='EMAAssignmentHook'),
    dict(type='GMMThresholdHook', interval=1),
    dict(type='LossWarmupHook', warmup_iters=warmup_iters, lead=queue_len)
]
