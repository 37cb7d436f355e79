# Table V: cross-task pairwise affinity, segmentation constraint only.
_base_ = ['./dual_ss-cam_1x200it_synthvoc-224.py']
model = dict(
    decode_head=dict(affinity_mode='pairwise', refine_targets=('seg', )))
