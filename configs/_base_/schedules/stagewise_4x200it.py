# Stage-wise training of the SynthVOC benchmark (docs/benchmarks.md): the
# 800 iterations of schedule_800.py as 4 stages of 200 (StagewiseTrainLoop),
# the poly decay restarted at every stage, a checkpoint at every stage
# boundary. Methods that relabel between stages add PseudoLabelUpdateHook.
# A config with other stages restates stage_iters / num_stages in the three
# places below (dicts merge, so only those keys).
_base_ = ['./schedule_800.py']
stage_iters = 200
num_stages = 4
param_scheduler = dict(
    _delete_=True,
    type='StagewisePolyLR',
    stage_iters=stage_iters,
    power=0.9,
    eta_min=0.,
    by_epoch=False)
train_cfg = dict(
    _delete_=True,
    type='StagewiseTrainLoop',
    stage_iters=stage_iters,
    num_stages=num_stages)
default_hooks = dict(
    checkpoint=dict(interval=stage_iters, max_keep_ckpts=num_stages))
