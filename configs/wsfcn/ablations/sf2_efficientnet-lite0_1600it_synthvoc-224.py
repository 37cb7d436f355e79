# Table I '+SF2' (and Table II's SF2 fusion): ASPP context, SF2 fusion.
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(
            _delete_=True, type='ASPPContext', dilations=(1, 4, 8, 12))))
# no FCA: every parameter is used
find_unused_parameters = False
