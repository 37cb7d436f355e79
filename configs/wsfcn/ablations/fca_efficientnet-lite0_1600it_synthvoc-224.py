# Table I '+FCA' (and Table II's FCA context): FCA, skip + GCI fusion.
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        fusion_cfg=dict(
            _delete_=True, type='SkipGCIFusion', skip_channels=12)))
