# Table I 'baseline (SSSS re-run)' on SynthVOC: SSSS's ASPP context and
# skip + GCI fusion, evaluated like every other row (background 0.25).
# ../ssss_efficientnet-lite0_* is SSSS as released (background^3).
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(_delete_=True, type='ASPPContext',
                         dilations=(1, 4, 8, 12)),
        fusion_cfg=dict(
            _delete_=True, type='SkipGCIFusion', skip_channels=12)))
# no FCA: every parameter is used
find_unused_parameters = False
