# Table II fusion 'summation': ASPP context, SF2's streams joined by a sum, no
# aligned upsampling.
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(
            _delete_=True, type='ASPPContext', dilations=(1, 4, 8, 12)),
        fusion_cfg=dict(fuse_mode='sum', align=False)))
# no FCA: every parameter is used
find_unused_parameters = False
