# Table IV: segmentation + classification (no saliency branch, no affinity).
_base_ = ['./dual_ss-cam_1x200it_synthvoc-224.py']
model = dict(decode_head=dict(affinity_mode='none', use_sal_branch=False))
