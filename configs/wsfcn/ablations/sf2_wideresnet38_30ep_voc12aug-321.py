# Table I '+SF2' (and Table II's SF2 fusion): ASPP context, SF2 fusion.
_base_ = ['../wsfcn_wideresnet38_30ep_voc12aug-321.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(
            _delete_=True, type='ASPPContext', dilations=(1, 12, 24, 36))),
    # Table I / II are 'single-scale' with flip (wsfcn.md 7.2)
    test_cfg=dict(scales=(1.0, ), flip=True))
# no FCA: every parameter is used
find_unused_parameters = False
