# AuxSegNet+ phase (a) on PASCAL VOC 2012 aug: backbone + classification
# branch on image labels (train_cfg.stage='cls'). auxsegnet_plus.md 4.1: the
# official code starts from PSA's ResNet-38 CAM checkpoint, so this is PSA's
# train_cls.py recipe: batch 16, crop 448, random long side 256-512, colour
# jitter, flip, lr 0.1 (10x on the classifier), weight decay 5e-4, poly 0.9,
# 15 epochs of train_aug = 10582 // 16 * 15 = 9915 iterations (PSA's
# max_step). Its last checkpoint initialises the stage-wise configs
# (load_from in auxsegnet-plus_wideresnet38_4x15ep_voc12aug-321.py).
# Approximations:
# - momentum 0: PSA's PolyOptimizer passes weight_decay as SGD's third
#   positional argument (momentum, = 5e-4 ~ 0); its `momentum=0.9` is the poly
#   power. The per-group weight_decay=5e-4 of PSA's weights is kept.
# - colour jitter: torchvision ColorJitter(0.3, 0.3, 0.3, 0.1) becomes mmseg's
#   PhotoMetricDistortion (each change with p=0.5; brightness additive +-32
#   instead of x[0.7, 1.3]; hue +-18 of OpenCV's 180 = +-0.1 of the circle).
# - a resized image smaller than 448 is padded bottom/right by the data
#   preprocessor (PSA places it at a random offset).
_base_ = [
    '../_base_/models/auxsegnet-plus_wideresnet38.py',
    '../_base_/datasets/voc12aug_wsss.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
num_images = 10582  # train_aug
batch_size = 16
max_iters = num_images // batch_size * 15
crop_size = (448, 448)
model = dict(
    data_preprocessor=dict(size=crop_size), train_cfg=dict(stage='cls'))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    # square scale + keep_ratio: the long side becomes 512 x U[0.5, 1.0]
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 1.0),
        keep_ratio=True),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.7, 1.3),
        saturation_range=(0.7, 1.3),
        hue_delta=18),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=batch_size,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0., weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'auxiliary_head': dict(lr_mult=10.)}))
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
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters // 3, max_keep_ckpts=1))
# the decode head is not trained in this phase and not scored
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
val_cfg = None
val_dataloader = None
val_evaluator = None
