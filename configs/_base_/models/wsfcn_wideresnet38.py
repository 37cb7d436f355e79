# WS-FCN on WideResNet-38 (wsfcn.md 2, 5): conv3 (/4, 256-d) is the shallow
# input and conv6 (/8, 4096-d) the deep one of FCASF2Head (FCA context, SF2
# fusion, stochastic gate, constant background logit). As in the code,
# conv1a and b2* are frozen and every backbone BN is frozen (eval mode, no
# affine update). ImageNet weights: the PSA / SSSS release
# `ilsvrc-cls_rna-a1_cls1000_ep-0001.pth` (PSA key names) under checkpoints/.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # ImageNet mean/std x 255 on RGB (wsfcn.md 1.4)
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(321, 321),
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='WSFCN',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='WideResNet38',
        out_indices=(1, 4),  # conv3, conv6
        frozen_stages=1,  # conv1a and b2*
        norm_eval=True,
        frozen_bn_params=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/ilsvrc-cls_rna-a1_cls1000_ep-0001.pth')),
    decode_head=dict(
        type='FCASF2Head',
        in_channels=(256, 4096),
        in_index=(0, 1),
        channels=256,
        num_classes=21,
        dropout_ratio=0.1,
        norm_cfg=dict(type='BN', requires_grad=True),
        # the code upsamples masks and logits with align_corners=True
        align_corners=True,
        # the code's FCA (wsfcn.md 2.3); paper variants are its flags
        context_cfg=dict(type='FCA', dilations=(1, 12, 24, 36)),
        fusion_cfg=dict(type='SF2Fusion'),
        sg_psi=0.3,
        bg_logit=1.0,
        focal_p=3.0,
        focal_lambda=0.01,
        pamr_cfg=dict(type='PAMR', num_iter=10, dilations=(1, 2, 4, 8, 12, 24)),
        pseudo_gt_cfg=dict(fg_ratio=0.6, bg_ratio=0.7, floor=0.2),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_cls'),
        loss_decode=dict(
            type='ClassBalancedCELoss', loss_weight=1.0,
            loss_name='loss_seg')),
    train_cfg=dict(),
    # the papers' test procedure (wsfcn.md 1.3); WS-FCN replaces the
    # background by 0.25, SSSS raises it to the power 3
    test_cfg=dict(
        mode='wsss_msf',
        scales=(1.0, 0.5, 1.5, 2.0),
        flip=True,
        pad_size=(1024, 1024),
        fp_cut_score=0.1,
        bg_mode='const',
        bg_value=0.25,
        use_gt_labels=False,
        crf=None))
# FCA keeps the four branch BNs the code builds and never calls (exact
# parameter count, wsfcn.md P1): DDP must allow unused parameters
find_unused_parameters = True
