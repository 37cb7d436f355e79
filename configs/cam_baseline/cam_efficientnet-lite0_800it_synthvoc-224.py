# CAM baseline, step 1: the multi-label classifier (image labels only).
# Its val score is the CAM segmentation (IoUMetric) and the best background
# threshold of a sweep (CAMMetric).
_base_ = [
    '../_base_/models/cam_efficientnet-lite0.py',
    '../_base_/datasets/synthvoc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
val_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']),
                 dict(type='CAMMetric')]
test_evaluator = val_evaluator
default_hooks = dict(visualization=dict(type='SegVisualizationHook'))
# Step 2 (tools/make_pseudo_labels.py): multi-scale + flip CAMs thresholded
# at the best background score of the multi-scale sweep on val (0.45,
# docs/benchmarks.md).
label_generator = dict(
    type='CAMLabelGenerator',
    scales=(1.0, 0.5, 1.5, 2.0),
    flip=True,
    rule=dict(type='threshold', bg_thr=0.45))
