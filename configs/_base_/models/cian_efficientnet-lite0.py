# CIAN on the benchmark backbone (docs/benchmarks.md): cian_r101-d8.py's
# head on EfficientNet-Lite0 at output stride 16 (1280-d head features; the
# module's embeddings 640-d, keys/values max-pooled) with the classifier's
# dilation 4 (the code's 12 at OS8 on 41x41, scaled to the 14x14 map of a
# 224 crop like the protocol's LargeFOV). The protocol evaluates single
# scale: the paper's test-time keys are dropped (configs/cian/ablations/
# test-msf* restore them).
_base_ = ['./cian_r101-d8.py']
data_preprocessor = dict(
    # the EfficientNet-Lite weights expect (x - 127) / 128 on RGB
    mean=[127., 127., 127.],
    std=[128., 128., 128.],
    size=(224, 224))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(7, ),
        output_stride=16,
        frozen_stages=2,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/efficientnet_lite0_imagenet.pth')),
    decode_head=dict(in_channels=1280, channels=1280, dilation=4),
    test_cfg=dict(_delete_=True, mode='whole'))
