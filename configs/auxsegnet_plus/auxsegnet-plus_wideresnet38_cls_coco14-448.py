# AuxSegNet+ phase (a) on MS COCO 2014 (81 classes: 80 image-level labels):
# the VOC recipe of auxsegnet-plus_wideresnet38_cls_voc12aug-448.py (PSA's
# train_cls.py; neither PSA nor the paper gives a COCO recipe) over
# train2014: 15 epochs of 82081 images, 82081 // 16 * 15 = 76950 iterations
# of batch 16. Same approximations as the VOC config (momentum 0 as PSA's
# PolyOptimizer quirk, PhotoMetricDistortion for ColorJitter, pad
# bottom/right). Initialises auxsegnet-plus_wideresnet38_4x15ep_coco14-321.py.
# Only the dataset and what derives from its size are restated.
_base_ = ['./auxsegnet-plus_wideresnet38_cls_voc12aug-448.py']
num_images = 82081  # train2014 images with at least one thing label
batch_size = 16
max_iters = num_images // batch_size * 15
dataset_type = 'WSSSCOCODataset'
data_root = 'data/coco2014'
model = dict(
    decode_head=dict(num_classes=81), auxiliary_head=dict(num_classes=81))
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/train2014', seg_map_path='mask/train2014'),
        ann_file='train.txt'))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    checkpoint=dict(interval=max_iters // 3, max_keep_ckpts=1))
test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/val2014', seg_map_path='mask/val2014'),
        ann_file='val.txt'))
