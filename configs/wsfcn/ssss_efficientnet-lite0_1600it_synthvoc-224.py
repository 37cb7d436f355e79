# SSSS on SynthVOC under the benchmark protocol (as
# wsfcn_efficientnet-lite0_1600it_synthvoc-224.py): ASPP context (the code's
# dilations scaled to OS16 like FCA's) and skip + GCI fusion; background
# raised to the power 3 at test.
_base_ = ['./wsfcn_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(_delete_=True, type='ASPPContext',
                         dilations=(1, 4, 8, 12)),
        fusion_cfg=dict(
            _delete_=True, type='SkipGCIFusion', skip_channels=12)),
    test_cfg=dict(bg_mode='pow', bg_pow=3))
find_unused_parameters = False
