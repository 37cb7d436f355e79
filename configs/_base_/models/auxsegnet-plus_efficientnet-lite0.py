# AuxSegNet+ on EfficientNet-Lite0 (ImageNet), output stride 16: the
# SynthVOC benchmark backbone. The dual-affinity head reads the same 1280-d
# features as the CAM classifier (auxiliary head). Branch dilations are the
# paper's 6/12 (+18) scaled to the 14x14 map of a 224 crop, as for LargeFOV
# (docs/benchmarks.md); BN after the branch convs, as in the LargeFOV
# baseline, keeps the 10x head learning rate of the protocol stable.
data_preprocessor = dict(
    type='WSSSDataPreProcessor',
    # the EfficientNet-Lite weights expect (x - 127) / 128 on RGB
    mean=[127., 127., 127.],
    std=[128., 128., 128.],
    bgr_to_rgb=True,
    size=(224, 224),
    pad_val=0,
    seg_pad_val=255,
    sal_pad_val=255)
model = dict(
    type='AuxSegNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(7, ),
        output_stride=16,
        frozen_stages=2,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/efficientnet_lite0_imagenet.pth')),
    decode_head=dict(
        type='DualAffinityHead',
        in_channels=1280,
        in_index=0,
        channels=128,
        num_classes=21,
        dilations=(2, 4),
        post_dilation=6,
        affinity_mode='dual',
        unary_refine='residual',
        dropout_ratio=0.,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True, loss_name='loss_seg'),
        loss_sal=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0,
            avg_non_ignore=True, loss_name='loss_sal')),
    auxiliary_head=dict(
        type='CAMHead',
        in_channels=1280,
        in_index=0,
        num_classes=21,
        pool='avg',
        dropout_ratio=0.,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_cls')),
    train_cfg=dict(stage='full'),
    test_cfg=dict(mode='whole'))
