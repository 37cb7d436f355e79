# Table IV: segmentation + saliency (no classification branch, no affinity).
_base_ = ['./dual_ss-cam_1x200it_synthvoc-224.py']
model = dict(decode_head=dict(affinity_mode='none'), auxiliary_head=None)
