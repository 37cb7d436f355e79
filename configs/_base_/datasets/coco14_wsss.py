# MS COCO 2014, 81 classes (background + 80 things), in the layout that
# tools/dataset_converters/coco2014.py writes: images/{train,val}2014,
# mask/{train,val}2014, {train,val}.txt, cls_labels.json. Photos, as VOC:
# voc12aug_wsss.py's sizes and pipelines.
_base_ = ['./voc12aug_wsss.py']
dataset_type = 'WSSSCOCODataset'
data_root = 'data/coco2014'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/train2014', seg_map_path='mask/train2014'),
        ann_file='train.txt'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/val2014', seg_map_path='mask/val2014'),
        ann_file='val.txt'))
test_dataloader = val_dataloader
