# Table V: the segmentation task's own pairwise affinity (no cross-task
# fusion), segmentation constraint only.
_base_ = ['./dual_ss-cam_1x200it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        affinity_mode='pairwise',
        affinity_source='seg',
        refine_targets=('seg', )))
