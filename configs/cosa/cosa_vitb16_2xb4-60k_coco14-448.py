# CoSA, paper preset on MS COCO 2014 (cosa.md 1.2): 2 GPUs x 4 images,
# 60k iterations, the first 10k classification only; otherwise as VOC (the
# COCO layout of configs/_base_/datasets/coco14_wsss.py).
_base_ = ['./cosa_vitb16_2xb2-32k_voc12aug-448.py']
max_iters = 60000
data_root = 'data/coco2014'
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        type='WSSSCOCODataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='images/train2014', seg_map_path='mask/train2014'),
        ann_file='train.txt'))
val_dataloader = dict(
    dataset=dict(
        type='WSSSCOCODataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='images/val2014', seg_map_path='mask/val2014'),
        ann_file='val.txt'))
test_dataloader = val_dataloader
model = dict(
    decode_head=dict(num_classes=81), cam_head=dict(num_classes=81))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=False,
        begin=0,
        end=1500),
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.,
        by_epoch=False,
        begin=1500,
        end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=4000)
custom_hooks = [
    dict(type='EMAAssignmentHook'),
    dict(type='GMMThresholdHook', interval=1),
    dict(type='LossWarmupHook', warmup_iters=10000, lead=100)
]
