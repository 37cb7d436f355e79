# Mixing CIAN into a stock mmseg config (cian.md 12, "Mixing into a stock
# config"): mmseg's DeepLabV3 ResNet-50 model file with its ASPP decode head
# wrapped by CIANWrapperHead: the cross-image affinity module works on the
# 512-d ASPP output right before the classifier (256-d embeddings), the
# stock head's own layers run as in DeepLabV3. Trained on CIAN seeds (or any
# pseudo labels) of VOC 2012 aug with the stock 40k schedule and the pair
# sampler; the stock FCN auxiliary head trains on the same labels.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    '../../_base_/datasets/voc12aug_wsss.py',
    '../../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
# BN instead of the stock SyncBN (no single-process SyncBN)
norm_cfg = dict(type='BN', requires_grad=True)
aspp = dict(
    type='ASPPHead',
    in_channels=2048,
    in_index=3,
    channels=512,
    dilations=(1, 12, 24, 36),
    dropout_ratio=0.1,
    num_classes=21,
    norm_cfg=norm_cfg,
    align_corners=False,
    # sparse seeds: average over the labelled pixels
    loss_decode=dict(
        type='CrossEntropyLoss',
        use_sigmoid=False,
        loss_weight=1.0,
        avg_non_ignore=True,
        loss_name='loss_ce'))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(
        _delete_=True,
        type='CIANWrapperHead',
        head=aspp,
        cian=dict(embed_ratio=0.5, kv_pool=True),
        loss_completion=dict(type='CompletionLoss')),
    auxiliary_head=dict(
        num_classes=21,
        norm_cfg=norm_cfg,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=0.4,
            avg_non_ignore=True)))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=16,
    sampler=dict(
        _delete_=True,
        type='InfiniteCommonClassPairSampler',
        group_size=2,
        shuffle=True),
    dataset=dict(
        pseudo_label_dir='work_dirs/cian_seeds/voc12aug',
        pipeline=train_pipeline))
