# Table I 'baseline (SSSS re-run)': SSSS's ASPP context and skip + GCI fusion
# trained and evaluated like every other row (WS-FCN's schedule and test
# procedure: background 0.25, single scale with flip). ../ssss_* is SSSS as
# released (background to the power 3, multi-scale).
_base_ = ['../wsfcn_wideresnet38_30ep_voc12aug-321.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(_delete_=True, type='ASPPContext',
                         dilations=(1, 12, 24, 36)),
        fusion_cfg=dict(_delete_=True, type='SkipGCIFusion')),
    # Table I / II are 'single-scale' with flip (wsfcn.md 7.2)
    test_cfg=dict(scales=(1.0, ), flip=True))
# no FCA: every parameter is used
find_unused_parameters = False
