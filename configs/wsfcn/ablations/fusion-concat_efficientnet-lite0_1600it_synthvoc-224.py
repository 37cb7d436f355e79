# Table II fusion 'concatenation': ASPP context, SF2's streams joined by
# concatenation, no aligned upsampling.
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(
            _delete_=True, type='ASPPContext', dilations=(1, 4, 8, 12)),
        fusion_cfg=dict(fuse_mode='concat', align=False)))
# no FCA: every parameter is used
find_unused_parameters = False
