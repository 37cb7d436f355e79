# AuxSegNet+ phase (a) on SynthVOC: the classification branch alone on image
# labels (train_cfg.stage='cls'), the CAM-baseline recipe
# (configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py).
# Its checkpoint initialises every stage-wise config (load_from).
_base_ = [
    '../_base_/models/auxsegnet-plus_efficientnet-lite0.py',
    '../_base_/datasets/synthvoc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
model = dict(train_cfg=dict(stage='cls'))
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'auxiliary_head': dict(lr_mult=10.)}))
# the decode head is not trained in this phase; its prediction is not
# scored (the CAM baseline config scores the same classifier's CAMs)
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
val_cfg = None
val_dataloader = None
val_evaluator = None
