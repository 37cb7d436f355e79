# AuxSegNet+ on MS COCO 2014 (81 classes): the VOC schedule and recipe of
# auxsegnet-plus_wideresnet38_4x15ep_voc12aug-321.py (auxsegnet_plus.md
# 4.2-4.4; the spec gives no COCO-specific values) over train2014: 4 stages
# of 15 epochs (82081 // 4 * 15 = 307800 iterations of batch 4), initialised
# from auxsegnet-plus_wideresnet38_cls_coco14-448.py.
# Off-the-shelf saliency: one grey PNG per image in
# data/coco2014/saliency/train2014.
# Approximations (besides the VOC config's): RandomResize sets the long side
# to 640 x U[0.7, 1.3], the code's relative scale for COCO images (long side
# 640). Validation (40137 val2014 images, 6 views + CRF each) runs once at
# the end instead of after every stage; score a stage checkpoint with
# tools/test.py.
# Only the dataset and what derives from its size are restated; the label
# generators and the hook are the VOC config's.
_base_ = ['./auxsegnet-plus_wideresnet38_4x15ep_voc12aug-321.py']
load_from = ('work_dirs/auxsegnet-plus_wideresnet38_cls_coco14-448/'
             'iter_76950.pth')
num_images = 82081  # train2014 images with at least one thing label
batch_size = 4
stage_iters = num_images // batch_size * 15
num_stages = 4
crop_size = (321, 321)
dataset_type = 'WSSSCOCODataset'
data_root = 'data/coco2014'
saliency_dir = 'saliency/train2014'
model = dict(
    decode_head=dict(num_classes=81), auxiliary_head=dict(num_classes=81))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadSaliencyMap', binarize_thr=0.5),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=(640, 640),
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/train2014', seg_map_path='mask/train2014'),
        ann_file='train.txt',
        saliency_dir=saliency_dir,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/val2014', seg_map_path='mask/val2014'),
        ann_file='val.txt'))
test_dataloader = val_dataloader
param_scheduler = dict(stage_iters=stage_iters)
train_cfg = dict(
    stage_iters=stage_iters,
    num_stages=num_stages,
    val_interval=stage_iters * num_stages)
default_hooks = dict(
    checkpoint=dict(interval=stage_iters, max_keep_ckpts=num_stages))
