# Table I '+FCA_MCLM': FCA without SRM, skip + GCI fusion.
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(with_srm=False),
        fusion_cfg=dict(
            _delete_=True, type='SkipGCIFusion', skip_channels=12)))
