# Table II context 'Large 7x7 conv': a 7x7 conv instead of FCA, skip + GCI
# fusion.
_base_ = ['../wsfcn_wideresnet38_30ep_voc12aug-321.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(
            _delete_=True, type='LargeKernelContext', kernel_size=7),
        fusion_cfg=dict(_delete_=True, type='SkipGCIFusion')),
    # Table I / II are 'single-scale' with flip (wsfcn.md 7.2)
    test_cfg=dict(scales=(1.0, ), flip=True))
# no FCA: every parameter is used
find_unused_parameters = False
