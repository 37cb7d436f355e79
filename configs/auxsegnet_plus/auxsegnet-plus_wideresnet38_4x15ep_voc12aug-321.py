# AuxSegNet+ on PASCAL VOC 2012 aug, the paper's schedule
# (auxsegnet_plus.md 4.2-4.4, 5; numbers of the official AuxSegNet code):
# 4 stages of 15 epochs of train_aug (10582 // 4 * 15 = 39675 iterations of
# batch 4), initialised from phase (a)
# (auxsegnet-plus_wideresnet38_cls_voc12aug-448.py). SGD lr 7e-4, momentum 0,
# no weight decay (the code's argument quirk), 10x for the heads except the
# cross-task fusion convs, poly 0.9 restarted at every stage. Crop 321,
# random scale U[0.7, 1.3], flip. Stage-0 labels: multi-scale raw CAMs
# (1, 0.5, 1.5) fused with the off-the-shelf saliency (thresholds 0.2 /
# 0.06); after every stage the model relabels train_aug (CAMs refined by the
# cross-task affinity, saliency updated by eq. 1's CRF). Test: scales
# (0.5, 1, 1.5) + flip and the code's dense CRF; the paper's ablations are
# single scale without CRF: --cfg-options model.test_cfg.scales="[1.0]"
# model.test_cfg.flip=False model.test_cfg.crf=None.
# Off-the-shelf saliency: one grey PNG per image (0-255) in
# data/VOCdevkit/VOC2012/SaliencyMaps (e.g. the maps released with
# AuxSegNet).
# Approximation: the code draws one scale per batch; mmseg draws one per
# image. RandomResize scales the long side to 500 x U[0.7, 1.3], which is the
# code's relative scale for VOC images (long side 500).
_base_ = [
    '../_base_/models/auxsegnet-plus_wideresnet38.py',
    '../_base_/datasets/voc12aug_wsss.py', '../_base_/default_runtime.py',
    '../_base_/schedules/stagewise_4x200it.py'
]
load_from = ('work_dirs/auxsegnet-plus_wideresnet38_cls_voc12aug-448/'
             'iter_9915.pth')
num_images = 10582  # train_aug
batch_size = 4
stage_iters = num_images // batch_size * 15
num_stages = 4
cam_scales = (1.0, 0.5, 1.5)
crop_size = (321, 321)
saliency_dir = 'SaliencyMaps'
model = dict(
    data_preprocessor=dict(size=crop_size),
    test_cfg=dict(
        mode='whole',
        scales=(0.5, 1.0, 1.5),
        flip=True,
        crf=dict(
            num_iters=10,
            pos_sxy=4,
            pos_compat=3,
            bi_sxy=83,
            bi_srgb=5,
            bi_compat=3)))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadSaliencyMap', binarize_thr=0.5),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=(500, 500),
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    # smaller images are padded bottom/right (255 for both labels)
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.),
    dict(type='PackWSSSInputs')
]
train_dataloader = dict(
    batch_size=batch_size,
    # the hook switches the dataset's label dirs at every stage
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(saliency_dir=saliency_dir, pipeline=train_pipeline))
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=7e-4, momentum=0., weight_decay=0.),
    paramwise_cfg=dict(
        custom_keys={
            'decode_head': dict(lr_mult=10.),
            'auxiliary_head': dict(lr_mult=10.),
            # the cross-task fusion convs learn at the backbone rate (code)
            'decode_head.affinity.fusion': dict(lr_mult=1.)
        }))
param_scheduler = dict(stage_iters=stage_iters)
train_cfg = dict(stage_iters=stage_iters, num_stages=num_stages)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=stage_iters, max_keep_ckpts=num_stages))
label_generator = dict(
    type='AuxSegNetLabelGenerator',
    scales=cam_scales,
    cam_thr=0.2,
    sal_thr=0.06,
    refine=True,
    update_saliency=True,
    sal_update_ref='initial')
custom_hooks = [
    dict(
        type='PseudoLabelUpdateHook',
        name='auxsegnet_plus',
        generator=label_generator,
        init_generator=dict(
            label_generator, refine=False, update_saliency=False))
]
