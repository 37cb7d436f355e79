# WS-FCN (TNNLS 2023) on PASCAL VOC 2012 aug, WideResNet-38, the paper's
# schedule (wsfcn.md 1.2, 3): 30 epochs of batch 16, the first 7
# classification only, SGD momentum 0.9, weight decay 5e-4, constant
# learning rate 1e-3 with the code's four groups (backbone weights x1,
# biases x2 without decay; new weights x20, biases x40 without decay).
# Inference: scales 1/0.5/1.5/2 + flip, padded to 1024, background 0.25;
# dense CRF, "§" labels and single-scale: configs/wsfcn/README.md.
_base_ = [
    '../_base_/models/wsfcn_wideresnet38.py',
    '../_base_/datasets/voc12aug_wsss.py', '../_base_/default_runtime.py'
]
crop_size = (321, 321)
# wsfcn.md 1.4: an Inception crop of 90-100 % of the image, flip, colour
# jitter (p = 1); never padded
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResizedCrop',
        scale=321,
        crop_ratio_range=(0.9, 1.0),
        aspect_ratio_range=(3 / 4, 4 / 3),
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='ColorJitter',
        brightness=0.3,
        contrast=0.3,
        saturation=0.3,
        hue=0.1),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=16,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4),
    constructor='SSSSOptimWrapperConstructor',
    paramwise_cfg=dict(
        new_prefixes=('decode_head', ), lr_mults=(1, 2, 20, 40)))
param_scheduler = []  # constant learning rate
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='LossWarmupHook', warmup_epochs=7)]
# Under DDP each rank draws its own dropout and stochastic-gate masks (seed +
# rank, wsfcn.md 2.6). mmengine then seeds the sampler from the global
# numpy stream instead of the seed itself: reproducible, but another data
# order than the other methods' configs.
randomness = dict(seed=0, diff_rank_seed=True)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=3,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
