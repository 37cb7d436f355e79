# Procedural toy set (mmseg_wsss/datasets/toy.py writes it): VOC layout,
# 128x128 images, 5 classes. data_root is relative to the repository root.
_base_ = ['./wsss_voc_layout.py']
data_root = 'data/toy'
metainfo = dict(
    classes=('background', 'disc', 'square', 'triangle', 'ring'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
             [0, 0, 128]])
crop_size = (112, 112)
img_scale = (128, 128)
# the layout's train pipelines at these sizes
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs')
]
train_pseudo_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
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
train_full_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        saliency_dir='SaliencyMaps',
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
