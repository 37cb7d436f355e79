# Shared base of the WSSS dataset configs (synthvoc.py, toy.py,
# voc12aug_wsss.py, coco14_wsss.py): VOC-layout folders, image-level labels in
# cls_labels.json, pipelines and loaders. A dataset config inherits it and
# restates what differs: data_root (here None) in both loaders, and anything
# else it changes. mmengine resolves this file before reading the dataset
# config, so a config that changes img_scale or crop_size also restates the
# train pipelines that use them and the train loader's pipeline.
#
# Images are read ignoring EXIF orientation, as the VOC tools do and as the
# masks and saliency maps are drawn: a rotated photo would not match them.
dataset_type = 'WSSSVOCDataset'
data_root = None
img_scale = (256, 256)
crop_size = (224, 224)
# Image-level-label training (classifier / CAM stage): no mask is loaded.
# Resized images can be smaller than the crop: the data preprocessor pads.
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
# Segmentation training on pseudo labels (dataset needs pseudo_label_dir);
# cat_max_ratio=1.0 places crops uniformly (pseudo labels steer nothing).
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
# Fully supervised upper bound: GT masks, dataset with allow_gt_masks=True.
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
# Validation / test; also what mmseg's inference_model (top-level
# test_pipeline) and MMSegInferencer (the test loader's pipeline) run on a
# bare image: they drop LoadAnnotations, and an image without labels packs
# no gt_img_labels.
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageLevelLabels', allow_missing=True),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train.txt',
        img_labels_file='cls_labels.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        img_labels_file='cls_labels.json',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
