# LargeFOV segmenter on EfficientNet-Lite0 (ImageNet), output stride 16.
# fc6 dilation 4 at OS16 covers the 14x14 map of a 224 crop the way
# dilation 12 covers DeepLab's 41x41 map at OS8. BN after fc6/fc7 keeps the
# 10x head learning rate stable on the short benchmark schedule (without it
# the loss jumps to ~7 in the first iterations).
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
    # mmseg's EncoderDecoder + test_cfg scales / flip / crf
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
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
