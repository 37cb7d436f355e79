# AuxSegNet+ on the procedural toy set (tests and quick checks;
# tools/dataset_converters/make_toy.py writes data/toy): 2 stages of 20
# iterations of batch 8 at 112 px, five classes.
_base_ = ['./auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py']
data_root = 'data/toy'
metainfo = dict(
    classes=('background', 'disc', 'square', 'triangle', 'ring'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
             [0, 0, 128]])
load_from = None
stage_iters = 20
num_stages = 2
model = dict(
    data_preprocessor=dict(size=(112, 112)),
    decode_head=dict(num_classes=5, channels=32, dilations=(1, 2),
                     post_dilation=3),
    auxiliary_head=dict(num_classes=5))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadSaliencyMap', binarize_thr=0.5),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=(128, 128),
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(112, 112), cat_max_ratio=1.),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
param_scheduler = dict(stage_iters=stage_iters)
train_cfg = dict(stage_iters=stage_iters, num_stages=num_stages)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=stage_iters, max_keep_ckpts=num_stages))
