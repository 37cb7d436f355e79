# Table IV: the segmentation branch alone on labels(0) (no auxiliary task).
_base_ = ['./dual_ss-cam_1x200it_synthvoc-224.py']
model = dict(
    decode_head=dict(affinity_mode='none', use_sal_branch=False),
    auxiliary_head=None)
