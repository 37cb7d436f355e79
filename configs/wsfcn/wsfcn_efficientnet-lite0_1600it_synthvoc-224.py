# WS-FCN on SynthVOC under the benchmark protocol (docs/benchmarks.md): a
# single-stage method gets the CAM baseline's classifier + segmenter budget
# in one run, 1,600 iterations of batch 16, the first 7/30 of them (373)
# classification only as in the paper; the protocol's input, augmentation,
# optimiser (SGD momentum 0.9, weight decay 1e-4, lr 0.01 / 0.1 new layers,
# poly) and evaluation. WS-FCN's own thresholds: pseudo GT 0.6 / 0.7 / 0.2,
# false-positive cut 0.1, background 0.25. Shallow input: EfficientNet-Lite0
# level 1 (stride 4); deep: the OS16 head (see the model base).
_base_ = [
    '../_base_/models/wsfcn_efficientnet-lite0.py',
    '../_base_/datasets/synthvoc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
max_iters = 1600
warmup_iters = 373  # round(1600 * 7 / 30)
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=400))
custom_hooks = [dict(type='LossWarmupHook', warmup_iters=warmup_iters)]
# Under DDP each rank draws its own dropout and stochastic-gate masks (seed +
# rank, wsfcn.md 2.6). mmengine then seeds the sampler from the global
# numpy stream instead of the seed itself: reproducible, but another data
# order than the other methods' configs.
randomness = dict(seed=0, diff_rank_seed=True)
# The protocol's single-scale evaluation with WS-FCN's label cut and
# background; the paper's scales, flip and CRF are README rows
model = dict(
    test_cfg=dict(scales=(1.0, ), flip=False, pad_size=None))
