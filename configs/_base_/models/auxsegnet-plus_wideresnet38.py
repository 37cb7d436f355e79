# AuxSegNet+ on WideResNet-38 (the paper's backbone; auxsegnet_plus.md 2.1,
# 2.3, 5): conv6 (4096-d, output stride 8) feeds both the dual-affinity head
# (seg + sal branches, rates 6/12 before and 18 after the affinity module, 128
# channels, no norm layers: the official code has none) and the CAM
# classifier (auxiliary head, Dropout2d 0.5). As in the official code every
# backbone BN is frozen (eval mode, no affine update) and conv1a is frozen.
# ImageNet weights: the PSA release `ilsvrc-cls_rna-a1_cls1000_ep-0001.pth`
# (PSA key names, loads as is) placed under checkpoints/.
data_preprocessor = dict(
    type='WSSSDataPreProcessor',
    # ImageNet mean/std x 255 on RGB (spec 2.1)
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(321, 321),
    pad_val=0,
    seg_pad_val=255,
    sal_pad_val=255)
model = dict(
    type='AuxSegNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='WideResNet38',
        out_indices=(4, ),  # conv6: ReLU(bn7(b7)), 4096-d
        frozen_stages=0,  # conv1a (PSA / AuxSegNet); SSSS / WS-FCN use 1
        norm_eval=True,
        frozen_bn_params=True,
        dropout_ratios=(0.3, 0.5),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/ilsvrc-cls_rna-a1_cls1000_ep-0001.pth')),
    decode_head=dict(
        type='DualAffinityHead',
        in_channels=4096,
        in_index=0,
        channels=128,
        num_classes=21,
        dilations=(6, 12),
        post_dilation=18,
        affinity_mode='dual',
        unary_refine='residual',
        dropout_ratio=0.,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True, loss_name='loss_seg'),
        loss_sal=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0,
            avg_non_ignore=True, loss_name='loss_sal')),
    auxiliary_head=dict(
        type='CAMHead',
        in_channels=4096,
        in_index=0,
        num_classes=21,  # counts the background: 20 logits
        pool='avg',
        dropout_ratio=0.5,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0,
            loss_name='loss_cls')),
    train_cfg=dict(stage='full'),
    test_cfg=dict(mode='whole'))
