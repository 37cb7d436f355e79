# Mixing WS-FCN's FCA into a stock mmseg config as a neck (wsfcn.md 5,
# "Mixing into stock configs", (a)): the stock DeepLabV3 of
# deeplabv3_r50-d8_fca-head_voc12aug-512.py (same backbone, data, schedule)
# with FCANeck replacing the /8 output (index 3) by FCA of it and the stock
# FCN head (one 3x3 ConvModule, as ASPPHead's bottleneck) classifying
# that.
_base_ = ['./deeplabv3_r50-d8_fca-head_voc12aug-512.py']
norm_cfg = dict(type='BN', requires_grad=True)  # as the base config
model = dict(
    neck=dict(
        type='FCANeck',
        in_channels=2048,
        channels=256,
        in_index=3,
        dilations=(1, 12, 24, 36),
        norm_cfg=norm_cfg,
        align_corners=False,
        # as fca_cfg of the FCAHead config
        freeze_bn_stats=False,
        keep_unused_bn=False),
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=256,
        in_index=3,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
