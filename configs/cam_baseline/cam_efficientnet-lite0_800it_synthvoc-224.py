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
