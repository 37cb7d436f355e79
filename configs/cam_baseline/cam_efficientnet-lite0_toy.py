# `make demo`, step 1: the classifier on the procedural toy set
# (tools/dataset_converters/make_toy.py), a couple of minutes on 2 CPU cores.
_base_ = [
    '../_base_/models/cam_efficientnet-lite0.py', '../_base_/datasets/toy.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_800.py'
]
model = dict(
    data_preprocessor=dict(size=(112, 112)),
    decode_head=dict(num_classes=5))
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
param_scheduler = [
    dict(type='PolyLR', eta_min=0., power=0.9, begin=0, end=120,
         by_epoch=False)
]
train_cfg = dict(max_iters=120, val_interval=120)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=120, max_keep_ckpts=1))
val_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']),
                 dict(type='CAMMetric')]
test_evaluator = val_evaluator
label_generator = dict(
    type='CAMLabelGenerator',
    scales=(1.0, 0.5, 1.5),
    flip=True,
    rule=dict(type='threshold', bg_thr=0.3))
