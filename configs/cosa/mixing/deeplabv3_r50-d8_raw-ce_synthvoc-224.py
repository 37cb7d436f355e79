# Mixing CoSA's RAW-weighted CE into a stock mmseg config (cosa.md 5 (a),
# CoSA's multi-stage variant): mmseg's DeepLabV3 ResNet-50 model file
# (ResNetV1c-50, output stride 8, ImageNet init via `pretrained`, stock FCN
# auxiliary head) trained on offline CAM pseudo labels, each pixel's CE
# weighted by the reliability of its label, r = 1 / perplexity of the CAM
# confidence nu = max_c CAM_c at the labels' threshold (paper eqs. 4-5). The
# heads are the stock ones with PixelWeightedHeadMixin (PWASPPHead,
# PWFCNHead): they pass gt_pixel_weight to RAWCrossEntropyLoss. The
# benchmark protocol otherwise (docs/benchmarks.md: 224 crops, SGD + poly,
# 800 iterations of batch 16).
#
# Labels and CAMs: the CAM baseline's classifier and rule (bg_thr 0.45, the
# `threshold` below), written with their CAMs (<dir>/cams/<id>.npy) into the
# folder this config reads (run again with --save-cams on an existing label
# folder, it adds the CAMs):
#   python tools/make_pseudo_labels.py \
#       configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py \
#       work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/iter_800.pth \
#       --scales 1.0 0.5 1.5 2.0 --flip --bg-thr 0.45 --save-cams
# Other labels: --cfg-options train_dataloader.dataset.pseudo_label_dir=DIR
# (their CAMs in DIR/cams) and the pipeline's threshold set to their bg_thr.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    '../../_base_/datasets/synthvoc.py', '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_800.py'
]
crop_size = (224, 224)
img_scale = (256, 256)
num_classes = 21
# BN instead of the stock SyncBN: SyncBN needs a distributed run
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    # pads gt_pixel_weight with 0 along with the labels
    data_preprocessor=dict(type='WSSSDataPreProcessor', size=crop_size),
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(
        type='PWASPPHead',
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        loss_decode=dict(_delete_=True, type='RAWCrossEntropyLoss')),
    auxiliary_head=dict(
        type='PWFCNHead',
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        loss_decode=dict(
            _delete_=True, type='RAWCrossEntropyLoss', loss_weight=0.4)))
pseudo_label_dir = ('work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/'
                    'pseudo_labels/cam/stage_0')
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadCAMConfidence'),
    dict(type='ComputeRAWReliability', threshold=0.45),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pseudo_label_dir=pseudo_label_dir, pipeline=train_pipeline))
