# Table II fusion 'summation': ASPP context, SF2's streams joined by a sum, no
# aligned upsampling.
_base_ = ['../wsfcn_wideresnet38_30ep_voc12aug-321.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(
            _delete_=True, type='ASPPContext', dilations=(1, 12, 24, 36)),
        fusion_cfg=dict(fuse_mode='sum', align=False)),
    # Table I / II are 'single-scale' with flip (wsfcn.md 7.2)
    test_cfg=dict(scales=(1.0, ), flip=True))
# no FCA: every parameter is used
find_unused_parameters = False
