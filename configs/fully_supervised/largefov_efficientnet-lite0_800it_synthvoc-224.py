# Upper bound: the CAM baseline's segmenter trained on the true masks.
_base_ = [
    '../_base_/models/largefov_efficientnet-lite0.py',
    '../_base_/datasets/synthvoc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        allow_gt_masks=True, pipeline={{_base_.train_full_pipeline}}))
