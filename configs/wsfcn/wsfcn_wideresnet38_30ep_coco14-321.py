# WS-FCN on MS COCO 2014 (81 classes). The COCO settings exist only as
# comments in the code (wsfcn.md 7.11): PAMR 5 iterations, focal lambda 0.1,
# pseudo-GT background ratio 0.8 and floor 0.1. The schedule is VOC's (30
# epochs, 7 classification only; iterations scale with the dataset):
# unverified against the paper. 40,137 val images x 8 passes: validation at
# the end only. COCO images reach 640 px, 1280 at scale 2: passes are padded
# to 1304 (the size the code's VOC config names as the alternative).
_base_ = ['./wsfcn_wideresnet38_30ep_voc12aug-321.py']
data_root = 'data/coco2014'
model = dict(
    decode_head=dict(
        num_classes=81,
        focal_lambda=0.1,
        pamr_cfg=dict(num_iter=5),
        pseudo_gt_cfg=dict(fg_ratio=0.6, bg_ratio=0.8, floor=0.1)),
    test_cfg=dict(pad_size=(1304, 1304)))
train_dataloader = dict(
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
train_cfg = dict(val_interval=30)
