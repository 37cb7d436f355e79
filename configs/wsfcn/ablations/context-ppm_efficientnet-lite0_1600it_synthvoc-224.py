# Table II context 'PPM': pyramid pooling instead of FCA, skip + GCI fusion.
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(_delete_=True, type='PPMContext'),
        fusion_cfg=dict(
            _delete_=True, type='SkipGCIFusion', skip_channels=12)))
# no FCA: every parameter is used
find_unused_parameters = False
