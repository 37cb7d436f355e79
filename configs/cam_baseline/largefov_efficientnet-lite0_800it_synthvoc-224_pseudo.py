# CAM baseline, step 3: a LargeFOV segmenter trained on the pseudo labels of
# step 2 (tools/make_pseudo_labels.py). Point pseudo_label_dir elsewhere with
# --cfg-options train_dataloader.dataset.pseudo_label_dir=DIR.
_base_ = [
    '../_base_/models/largefov_efficientnet-lite0.py',
    '../_base_/datasets/synthvoc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_800.py'
]
pseudo_label_dir = ('work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/'
                    'pseudo_labels/cam/stage_0')
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        pseudo_label_dir=pseudo_label_dir,
        pipeline={{_base_.train_pseudo_pipeline}}))
