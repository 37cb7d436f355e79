# Mixing WS-FCN's FCA into a stock mmseg config (wsfcn.md 5, "Mixing into
# stock configs", (a)): mmseg's DeepLabV3 ResNet-50 model file (ResNetV1c-50,
# output stride 8, ImageNet init via `pretrained`, stock FCN auxiliary head)
# with the ASPP decode head replaced by FCAHead (FCA + classifier, same
# dilations). Fully supervised: the stock DeepLabV3 VOC-aug recipe on the GT
# masks (allow_gt_masks=True on the dataset, as configs/fully_supervised):
# SGD lr 0.01, momentum 0.9, wd 5e-4, poly over 40k iterations; crop 512,
# scale (2048, 512) x [0.5, 2], flip, photometric distortion; batch 16
# (mmseg's 4xb4) on one device. Validation at the original image size (our
# VOC test pipeline), not at mmseg's (2048, 512) resize.
# The two other configs of this folder inherit this one and swap the parts.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    '../../_base_/datasets/voc12aug_wsss.py',
    '../../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
# BN instead of the stock SyncBN: SyncBN needs a distributed run (no CPU or
# single-process training); for multi-GPU runs SyncBN may be restored
norm_cfg = dict(type='BN', requires_grad=True)
# stock BN behaviour in FCA (statistics updated; the official code freezes
# them), and no never-called BN layers (stock DDP runs with
# find_unused_parameters=False)
fca_cfg = dict(freeze_bn_stats=False, keep_unused_bn=False)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(
        _delete_=True,
        type='FCAHead',
        in_channels=2048,
        in_index=3,
        channels=256,
        dilations=(1, 12, 24, 36),
        fca_cfg=fca_cfg,
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(num_classes=21, norm_cfg=norm_cfg))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=16,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(allow_gt_masks=True, pipeline=train_pipeline))
