# CoSA on the benchmark backbone (docs/benchmarks.md): cosa_vitb16.py's
# method on EfficientNet-Lite0 at output stride 16. M (final CAM) on the
# 1280-d head, M-dagger (earlier CAM) on level 5 (192-d, OS16: two modules
# before the head, as ViT-B/16's block 9 is three blocks before block 11);
# the protocol's LargeFOV segmenter (512 channels, dilation 4, BN, dropout
# 0.5) as CoSA's decoder; the protocol's single-scale test.
_base_ = ['./cosa_vitb16.py']
data_preprocessor = dict(
    # the EfficientNet-Lite weights expect (x - 127) / 128 on RGB; each of
    # the two views (weak, strong) of a 6-channel input is normalised alike
    mean=[127., 127., 127.],
    std=[128., 128., 128.],
    size=(224, 224))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
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
        _delete_=True,
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
    cam_head=dict(in_channels=(1280, 192)),
    test_cfg=dict(
        _delete_=True, net='assignment', scales=(1.0, ), flip=False))
