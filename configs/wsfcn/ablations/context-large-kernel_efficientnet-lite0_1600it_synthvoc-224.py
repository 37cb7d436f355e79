# Table II context 'Large 7x7 conv': a 7x7 conv instead of FCA, skip + GCI
# fusion.
_base_ = ['../wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(
            _delete_=True, type='LargeKernelContext', kernel_size=7),
        fusion_cfg=dict(
            _delete_=True, type='SkipGCIFusion', skip_channels=12)))
# no FCA: every parameter is used
find_unused_parameters = False
