# SSSS (Araslanov & Roth, CVPR 2020), the baseline of WS-FCN's Table I, in
# WS-FCN's protocol (30 epochs, 7 classification only; wsfcn.md 1.2): ASPP
# context (frozen BN statistics) and skip + Global Cue Injection fusion; at
# test the background is raised to the power 3 (SSSS code).
_base_ = ['./wsfcn_wideresnet38_30ep_voc12aug-321.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(_delete_=True, type='ASPPContext',
                         dilations=(1, 12, 24, 36)),
        fusion_cfg=dict(_delete_=True, type='SkipGCIFusion')),
    test_cfg=dict(bg_mode='pow', bg_pow=3))
# ASPP uses all its parameters
find_unused_parameters = False
