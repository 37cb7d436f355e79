# CIAN on PASCAL VOC 2012 aug, ResNet-101 (cian.md 3-9): two rounds of 20
# epochs of batch 16 (10,582 // 16 * 20 = 13,220 iterations each), SGD
# momentum 0.9, weight decay 5e-4 (none on norms), lr 5e-4 (x10 for the
# module and classifier), poly 0.9 restarted per round. Round 1 trains on
# the seeds (tools/make_pseudo_labels.py with
# cian-seeds_wideresnet38_voc12aug-448.py, or any CAM classifier of the
# project with the `cian` rule); round 2, initialised from round 1 (gamma
# kept), on labels(2) made by the round-1 model at the boundary. Batches
# are common-class pairs.
_base_ = [
    '../_base_/models/cian_r101-d8.py', '../_base_/datasets/voc12aug_wsss.py',
    '../_base_/default_runtime.py', '../_base_/schedules/stagewise_4x200it.py'
]
num_images = 10582
batch_size = 16
stage_iters = num_images // batch_size * 20
num_stages = 2
seeds_dir = 'work_dirs/cian_seeds/voc12aug'
crop_size = (321, 321)
# cian.md 9: flip, a random scale of {0.5, 0.75, 1, 1.25, 1.5}, crop 321
# (the preprocessor pads smaller crops, labels with 255); no colour jitter
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadImageLevelLabels'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[[dict(type='Resize', scale_factor=s, keep_ratio=True)]
                    for s in (0.5, 0.75, 1.0, 1.25, 1.5)]),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(
        _delete_=True,
        type='InfiniteCommonClassPairSampler',
        group_size=2,
        shuffle=True),
    dataset=dict(pseudo_label_dir=seeds_dir, pipeline=train_pipeline))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={'decode_head': dict(lr_mult=10.)}, norm_decay_mult=0.))
param_scheduler = dict(stage_iters=stage_iters)
train_cfg = dict(
    stage_iters=stage_iters, num_stages=num_stages, val_interval=stage_iters)
default_hooks = dict(
    checkpoint=dict(interval=stage_iters, max_keep_ckpts=num_stages))
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
