# Table IV: segmentation + classification + saliency, no affinity module.
_base_ = ['./dual_ss-cam_1x200it_synthvoc-224.py']
model = dict(decode_head=dict(affinity_mode='none'))
