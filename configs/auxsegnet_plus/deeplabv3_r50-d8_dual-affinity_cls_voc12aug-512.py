# Phase (a) of deeplabv3_r50-d8_dual-affinity_voc12aug-512.py: the same
# model trained on image labels only (train_cfg.stage='cls': backbone + CAM
# classifier), whose CAMs make the stage-0 labels. Stock DeepLabV3 optimiser
# with 10x on the new classifier (as PSA / IRN), 15 epochs of train_aug at
# batch 16 (9915 iterations), crop 512, the dataset base's image-label
# augmentation.
_base_ = ['./deeplabv3_r50-d8_dual-affinity_voc12aug-512.py']
load_from = None
max_iters = {{_base_.stage_iters}}
model = dict(train_cfg=dict(stage='cls'))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'auxiliary_head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
custom_hooks = []
# the decode head is not trained in this phase and not scored
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
val_cfg = None
val_dataloader = None
val_evaluator = None
