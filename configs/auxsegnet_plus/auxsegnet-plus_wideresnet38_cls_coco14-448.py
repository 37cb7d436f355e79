# AuxSegNet+ phase (a) on MS COCO 2014 (81 classes: 80 image-level labels):
# the VOC recipe of auxsegnet-plus_wideresnet38_cls_voc12aug-448.py (PSA's
# train_cls.py; neither PSA nor the paper gives a COCO recipe) over
# train2014: 15 epochs of 82081 images, 82081 // 16 * 15 = 76950 iterations
# of batch 16. Same approximations as the VOC config (momentum 0 as PSA's
# PolyOptimizer quirk, PhotoMetricDistortion for ColorJitter, pad
# bottom/right). Initialises auxsegnet-plus_wideresnet38_4x15ep_coco14-321.py.
_base_ = [
    '../_base_/models/auxsegnet-plus_wideresnet38.py',
    '../_base_/datasets/coco14_wsss.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
num_images = 82081  # train2014 images with at least one thing label
batch_size = 16
max_iters = num_images // batch_size * 15
crop_size = (448, 448)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=81),
    auxiliary_head=dict(num_classes=81),
    train_cfg=dict(stage='cls'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
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
