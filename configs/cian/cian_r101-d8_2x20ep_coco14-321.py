# CIAN on MS COCO 2014 (81 classes): VOC's recipe; 20 epochs per round of
# the 82,081 train images with a thing label. Unverified against the paper.
_base_ = ['./cian_r101-d8_2x20ep_voc12aug-321.py']
num_images = 82081
stage_iters = num_images // 16 * 20
data_root = 'data/coco2014'
model = dict(decode_head=dict(num_classes=81))
param_scheduler = dict(stage_iters=stage_iters)
train_cfg = dict(stage_iters=stage_iters, val_interval=stage_iters)
default_hooks = dict(checkpoint=dict(interval=stage_iters))
train_dataloader = dict(
    dataset=dict(
        type='WSSSCOCODataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='images/train2014', seg_map_path='mask/train2014'),
        ann_file='train.txt',
        pseudo_label_dir='work_dirs/cian_seeds/coco14'))
val_dataloader = dict(
    dataset=dict(
        type='WSSSCOCODataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='images/val2014', seg_map_path='mask/val2014'),
        ann_file='val.txt'))
test_dataloader = val_dataloader
