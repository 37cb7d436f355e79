# CAM classifier: EfficientNet-Lite0 (ImageNet), output stride 16, stem and
# first two stages frozen, GAP + bias-free 1x1 classifier on the 1280-d head.
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
    type='CAMClassifier',
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
        type='CAMHead',
        in_channels=1280,
        in_index=0,
        num_classes=21,
        pool='avg',
        dropout_ratio=0.,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_cls')),
    train_cfg=dict(),
    # CAMs of the labelled classes (the WSSS protocol); a new photo without
    # labels keeps the classes the classifier predicts
    test_cfg=dict(
        scales=(1.0, ),
        flip=False,
        bg_thr=0.2,
        use_img_labels=True,
        predict_missing_labels=True))
