# CoSA on the benchmark backbone (docs/benchmarks.md): EfficientNet-Lite0,
# output stride 16. M (final CAM) on the 1280-d head, M-dagger (earlier CAM)
# on level 5 (192-d, OS16: two modules before the head, as ViT-B/16's block
# 9 is three blocks before block 11); the protocol's LargeFOV segmenter
# (512 channels, dilation 4, BN, dropout 0.5) as CoSA's decoder.
data_preprocessor = dict(
    type='WSSSDataPreProcessor',
    # the EfficientNet-Lite weights expect (x - 127) / 128 on RGB; each of
    # the two views (weak, strong) of a 6-channel input is normalised alike
    mean=[127., 127., 127.],
    std=[128., 128., 128.],
    bgr_to_rgb=True,
    size=(224, 224),
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='CoSA',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(5, 7),
        output_stride=16,
        frozen_stages=2,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/efficientnet_lite0_imagenet.pth')),
    decode_head=dict(
        type='LargeFOVHead',
        in_channels=1280,
        in_index=1,
        channels=512,
        dilation=4,
        num_classes=21,
        norm_cfg=dict(type='BN', requires_grad=True),
        fc_dropout_ratio=0.5,
        dropout_ratio=0.5,
        align_corners=False),
    cam_head=dict(
        type='DualCAMHead',
        in_channels=(1280, 192),
        in_index=(1, 0),
        num_classes=21,
        pool='max'),
    ema_momentum=0.0006,
    threshold=dict(type='GMMThresholdTracker', threshold_mode='gmm2'),
    loss_cls=dict(
        type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_cls'),
    loss_c2s=dict(type='RAWCrossEntropyLoss', loss_weight=0.1),
    loss_s2c=dict(type='Seg2CAMLoss', loss_weight=0.05),
    loss_csc=dict(type='ContrastiveSeparationLoss', loss_weight=0.1),
    pseudo_scales=(1.0, 0.5, 1.5),
    train_cfg=dict(),
    test_cfg=dict(net='assignment', scales=(1.0, ), flip=False))
