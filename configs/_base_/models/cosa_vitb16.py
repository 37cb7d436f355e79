# CoSA's network (cosa.md 2.2-2.4): ViT-B/16 (timm's ImageNet-21k -> 1k
# weights, converted by tools/model_converters/vit_timm_to_mmseg.py) through
# mmseg's VisionTransformer: outputs of block 9 (un-normed, M-dagger) and
# block 11 (after the final LayerNorm, M and the decoder), positional grid
# kept at 14 x 14 and resized bicubically to every input; LargeFOV decoder
# 768 -> 512 -> 512 (3 x 3, dilation 5, no bias, no BN / dropout) -> C.
data_preprocessor = dict(
    type='WSSSDataPreProcessor',
    # ImageNet mean / std, as the CoSA code (cosa.md 7.10); each view of a
    # 6-channel training input is normalised alike
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(448, 448),
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='CoSA',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='VisionTransformer',
        img_size=224,
        patch_size=16,
        patch_bias=True,  # timm's patch embedding has a bias
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4,
        out_indices=(9, 11),
        qkv_bias=True,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.,
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        interpolate_mode='bicubic',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/vit-b16_in21k-in1k_timm-jx_mmseg.pth')),
    decode_head=dict(
        type='LargeFOVHead',
        in_channels=768,
        in_index=1,
        channels=512,
        dilation=5,
        fc7_kernel_size=3,
        conv_bias=False,
        conv_seg_bias=False,
        torch_default_init=True,
        num_classes=21,
        norm_cfg=None,
        fc_dropout_ratio=0.,
        dropout_ratio=0.,
        align_corners=False),
    cam_head=dict(
        type='DualCAMHead',
        in_channels=(768, 768),
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
    freeze_pos_embed=True,
    train_cfg=dict(),
    # cosa.md 1.3: the 448 x 448 resize is the test pipeline's; 5 scales and
    # flips, logits summed, no GT-label masking (the paper's masked protocol
    # is mask_absent_classes=True, reported separately)
    test_cfg=dict(
        net='assignment',
        scales=(1.0, 0.5, 1.5, 0.75, 1.25),
        flip=True,
        merge='logit',
        mask_absent_classes=False))
