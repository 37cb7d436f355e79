# CIAN's segmentation network (cian.md 3): ResNet-101 at output stride 8
# (mmseg ResNetV1c, strides 1/2/1/1, dilations 1/1/2/4; the official MXNet
# model is a pre-activation ResNet-v2) with frozen BN (running statistics,
# no affine update), the cross-image affinity module on its 2048-d output
# and the LargeFOV classifier (3x3, dilation 12, no bias) shared by the self
# and cross branches. Inference: the self branch only.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(321, 321),
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='TTAEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch'),
    decode_head=dict(
        type='CIANHead',
        in_channels=2048,
        channels=2048,
        in_index=0,
        num_classes=21,
        dilation=12,
        embed_ratio=0.5,
        kv_pool=True,
        merge='max',
        group_size=2,
        use_cross=True,
        use_completion=True,
        loss_resolution='feature',
        dropout_ratio=0.,
        # the module's BN (h): trainable, batch statistics in training
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
    # cian.md 7: scales 0.75/1/1.25 + their max map, flip, logits averaged,
    # dense CRF 5 iterations (Gaussian 3/3, bilateral 80/13/10)
    test_cfg=dict(
        mode='whole',
        scales=(0.75, 1.0, 1.25),
        flip=True,
        merge='logit',
        add_max=True,
        crf=dict(num_iters=5)))
