# `make demo`, step 3: the LargeFOV segmenter on the toy pseudo labels.
_base_ = [
    '../_base_/models/largefov_efficientnet-lite0.py',
    '../_base_/datasets/toy.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
model = dict(
    data_preprocessor=dict(size=(112, 112)),
    decode_head=dict(num_classes=5, dilation=2))
pseudo_label_dir = 'work_dirs/demo/cls/pseudo_labels/cam/stage_0'
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        pseudo_label_dir=pseudo_label_dir,
        pipeline={{_base_.train_pseudo_pipeline}}))
param_scheduler = [
    dict(type='PolyLR', eta_min=0., power=0.9, begin=0, end=150,
         by_epoch=False)
]
train_cfg = dict(max_iters=150, val_interval=150)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=150, max_keep_ckpts=1))
