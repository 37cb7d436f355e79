# PASCAL VOC 2012 + SBD aug (10582 train images; tools/dataset_converters/
# voc_aug.py writes SegmentationClassAug, train_aug.txt and cls_labels.json).
# No saliency ships with VOC: methods that take it set saliency_dir.
# Photos: larger sizes, a wider scale range and photometric distortion.
_base_ = ['./wsss_voc_layout.py']
data_root = 'data/VOCdevkit/VOC2012'
img_scale = (512, 512)
crop_size = (448, 448)  # classification / CAM stage
seg_crop_size = (321, 321)  # segmentation stage (DeepLab-LargeFOV)
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs')
]
train_pseudo_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=seg_crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs')
]
train_full_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=seg_crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    num_workers=4,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(seg_map_path='SegmentationClassAug'),
        ann_file='ImageSets/Segmentation/train_aug.txt',
        pipeline=train_pipeline))
val_dataloader = dict(num_workers=4, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
