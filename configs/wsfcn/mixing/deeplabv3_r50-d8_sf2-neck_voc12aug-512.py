# Mixing WS-FCN's SF2 into a stock mmseg config (wsfcn.md 5, "Mixing into
# stock configs", (b)): the stock DeepLabV3 of
# deeplabv3_r50-d8_fca-head_voc12aug-512.py (same backbone, data, schedule)
# with an SF2Neck fusing ResNetV1c's /4 level (index 0, 256 ch) with its /8
# output (index 3, 2048 ch) and the stock ASPP head on the fused /4 map
# (the stock dilations; the FCN auxiliary head still reads index 2).
_base_ = ['./deeplabv3_r50-d8_fca-head_voc12aug-512.py']
norm_cfg = dict(type='BN', requires_grad=True)  # as the base config
model = dict(
    # the stock output stride 8, restated: SF2 fuses the /4 and /8 levels
    backbone=dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)),
    neck=dict(
        type='SF2Neck',
        low_index=0,
        high_index=3,
        low_channels=256,
        high_channels=2048,
        channels=256,
        norm_cfg=norm_cfg),
    decode_head=dict(
        _delete_=True,
        type='ASPPHead',
        in_channels=256,
        in_index=0,
        channels=512,
        dilations=(1, 12, 24, 36),
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
