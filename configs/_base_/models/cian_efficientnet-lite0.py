# CIAN on the benchmark backbone and segmenter (docs/benchmarks.md):
# EfficientNet-Lite0 at output stride 16 and the protocol's LargeFOV
# segmenter (fc6 3x3 dilation 4 + fc7 1x1, 512 channels, BN, dropout 0.5),
# with CIAN's cross-image affinity module between the segmenter's 512-d
# features and its classifier (CIANWrapperHead; 256-d embeddings,
# keys / values max-pooled), shared by the self and cross branches.
# CIAN's own classifier (one 3x3 conv, dilation 12 at OS8, no BN; cian.md 3,
# configs/_base_/models/cian_r101-d8.py) diverged on the 1280-d
# EfficientNet features at the protocol's 10x head learning rate (loss
# 2421 over the first 20 iterations, then NaN), the failure the protocol's
# BN LargeFOV avoids for every segmenter; CIAN vs its control (the same
# LargeFOV on the seeds) then differs only by CIAN.
# Eq. 9 sums four unit-weight terms; at initialisation z_cross = z_self, so
# the two CE terms are one gradient twice and the two completion terms are
# CE against the head's own argmax: about four CE steps at once. With the
# LargeFOV head that overshot at the protocol's 10x head rate (0.1; the
# code's is 5e-3): CE 4.95 over iterations 1-10 against the control's
# 2.26, then every pixel background (round 1 val 3.79). normalize_terms
# takes the mean of the terms instead, so every Table 2 / 3 row (1, 2 or
# 4 terms) steps the head about as its control does; the R101 paper
# configs keep the sum (docs/benchmarks.md, CIAN).
# The protocol evaluates single scale: the paper's test-time keys are in
# configs/cian/ablations/test-msf*.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # the EfficientNet-Lite weights expect (x - 127) / 128 on RGB
    mean=[127., 127., 127.],
    std=[128., 128., 128.],
    bgr_to_rgb=True,
    size=(224, 224),
    pad_val=0,
    seg_pad_val=255)
largefov = dict(
    type='LargeFOVHead',
    in_channels=1280,
    in_index=0,
    channels=512,
    dilation=4,
    num_classes=21,
    norm_cfg=dict(type='BN', requires_grad=True),
    fc_dropout_ratio=0.5,
    dropout_ratio=0.5,
    align_corners=False,
    # sparse seeds: average over the labelled pixels
    loss_decode=dict(
        type='CrossEntropyLoss',
        use_sigmoid=False,
        loss_weight=1.0,
        avg_non_ignore=True,
        loss_name='loss_ce'))
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
        type='CIANWrapperHead',
        head=largefov,
        cian=dict(embed_ratio=0.5, kv_pool=True, merge='max'),
        group_size=2,
        use_cross=True,
        use_completion=True,
        normalize_terms=True,
        loss_resolution='feature',
        loss_completion=dict(
            type='CompletionLoss', allowed='seed_and_image',
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
