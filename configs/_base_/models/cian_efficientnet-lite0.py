# CIAN on the benchmark backbone (docs/benchmarks.md): EfficientNet-Lite0,
# output stride 16, 1280-d head features; the cross-image affinity module
# (640-d embeddings, keys/values max-pooled) on them and CIAN's LargeFOV
# classifier (one 3x3 conv, no bias, shared by the self and cross branches)
# with dilation 4 (the code's 12 at OS8 on 41x41, scaled to the 14x14 map
# of a 224 crop like the protocol's LargeFOV). Inference: the self branch,
# so this is a stock EncoderDecoder head (TTAEncoderDecoder adds the
# test-time keys).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # the EfficientNet-Lite weights expect (x - 127) / 128 on RGB
    mean=[127., 127., 127.],
    std=[128., 128., 128.],
    bgr_to_rgb=True,
    size=(224, 224),
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='TTAEncoderDecoder',
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
        type='CIANHead',
        in_channels=1280,
        channels=1280,
        in_index=0,
        num_classes=21,
        dilation=4,
        embed_ratio=0.5,
        kv_pool=True,
        merge='max',
        group_size=2,
        use_cross=True,
        use_completion=True,
        loss_resolution='feature',
        dropout_ratio=0.,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True,
            loss_name='loss_ce'),
        loss_completion=dict(
            type='CompletionLoss', allowed='seed_and_image',
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
