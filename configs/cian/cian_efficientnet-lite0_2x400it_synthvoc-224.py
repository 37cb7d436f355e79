# CIAN (AAAI 2020) on SynthVOC under the benchmark protocol
# (docs/benchmarks.md). A two-stage method like the CAM baseline: the CAM
# baseline's classifier (800 iterations) makes the seeds
# (cian-seeds_efficientnet-lite0_800it_synthvoc-224.py), then the segmenter
# budget of 800 iterations of batch 16 is split over CIAN's two rounds as
# the paper's 20 + 20 epochs split it: round 1 (400) on the seeds, round 2
# (400, initialised from round 1, the module's gamma kept) on labels(2),
# which the round-1 model makes at the boundary (self branch, scales
# 0.75/1/1.25 + max map + flip, logits averaged, dense CRF 10 iterations).
# Batches are common-class pairs. The protocol's input, augmentation,
# optimiser and single-scale evaluation; CIAN's thresholds.
_base_ = [
    '../_base_/models/cian_efficientnet-lite0.py',
    '../_base_/datasets/synthvoc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/stagewise_4x200it.py'
]
stage_iters = 400
num_stages = 2
seeds_dir = 'work_dirs/cian_seeds/synthvoc'
param_scheduler = dict(stage_iters=stage_iters)
train_cfg = dict(stage_iters=stage_iters, num_stages=num_stages)
default_hooks = dict(
    checkpoint=dict(interval=stage_iters, max_keep_ckpts=num_stages))
train_dataloader = dict(
    # whole pairs per batch: batch_size a multiple of group_size
    sampler=dict(
        _delete_=True,
        type='InfiniteCommonClassPairSampler',
        group_size=2,
        shuffle=True),
    dataset=dict(
        pseudo_label_dir=seeds_dir,
        pipeline={{_base_.train_pseudo_pipeline}}))
# labels(2) of round 2 (cian.md 8)
label_generator = dict(
    type='SegmentationLabelGenerator',
    scales=(0.75, 1.0, 1.25),
    flip=True,
    merge='logit',
    add_max=True,
    crf=dict(num_iters=10))
custom_hooks = [
    dict(
        type='PseudoLabelUpdateHook',
        name='cian',
        generator=label_generator,
        generate_at_start=False)
]
# the paper's inference (README): test_cfg scales=(0.75, 1.0, 1.25),
# flip=True, merge='logit', add_max=True, crf=dict(num_iters=5)
