# AuxSegNet+ on MS COCO 2014 (81 classes): the VOC schedule and recipe of
# auxsegnet-plus_wideresnet38_4x15ep_voc12aug-321.py (auxsegnet_plus.md
# 4.2-4.4; the spec gives no COCO-specific values) over train2014: 4 stages
# of 15 epochs (82081 // 4 * 15 = 307800 iterations of batch 4), initialised
# from auxsegnet-plus_wideresnet38_cls_coco14-448.py. SGD lr 7e-4, momentum
# 0, no weight decay, 10x heads except the fusion convs, poly 0.9 restarted
# every stage; crop 321, random scale U[0.7, 1.3], flip; multi-scale CAMs
# (1, 0.5, 1.5); test with scales (0.5, 1, 1.5) + flip + the code's CRF.
# Off-the-shelf saliency: one grey PNG per image in
# data/coco2014/saliency/train2014.
# Approximations: one scale per image (code: per batch); RandomResize sets the
# long side to 640 x U[0.7, 1.3], the code's relative scale for COCO images
# (long side 640). Validation (40137 val2014 images, 6 views + CRF each) runs
# once at the end instead of after every stage; score a stage checkpoint
# with tools/test.py.
_base_ = [
    '../_base_/models/auxsegnet-plus_wideresnet38.py',
    '../_base_/datasets/coco14_wsss.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
load_from = ('work_dirs/auxsegnet-plus_wideresnet38_cls_coco14-448/'
             'iter_76950.pth')
num_images = 82081  # train2014 images with at least one thing label
batch_size = 4
stage_iters = num_images // batch_size * 15
num_stages = 4
cam_scales = (1.0, 0.5, 1.5)
crop_size = (321, 321)
saliency_dir = 'saliency/train2014'
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=81),
    auxiliary_head=dict(num_classes=81),
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
    dict(type='LoadImageFromFile'),
    dict(type='LoadPseudoLabel'),
    dict(type='LoadSaliencyMap', binarize_thr=0.5),
    dict(type='LoadImageLevelLabels'),
    dict(
        type='RandomResize',
        scale=(640, 640),
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
param_scheduler = [
    dict(
        type='StagewisePolyLR',
        stage_iters=stage_iters,
        power=0.9,
        eta_min=0.,
        begin=0,
        end=stage_iters * num_stages,
        by_epoch=False)
]
train_cfg = dict(
    max_iters=stage_iters * num_stages,
    val_interval=stage_iters * num_stages)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=stage_iters, max_keep_ckpts=num_stages))
label_generator = dict(
    type='AuxSegNetLabelGenerator',
    cam_scales=cam_scales,
    cam_thr=0.2,
    sal_thr=0.06,
    refine=True,
    update_saliency=True,
    sal_update_ref='initial')
custom_hooks = [
    dict(
        type='PseudoLabelUpdateHook',
        name='auxsegnet_plus',
        stage_iters=stage_iters,
        num_stages=num_stages,
        generator=label_generator,
        init_generator=dict(
            label_generator, refine=False, update_saliency=False))
]
