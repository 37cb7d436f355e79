# SSSS on MS COCO 2014 in WS-FCN's COCO setting (see
# wsfcn_wideresnet38_30ep_coco14-321.py).
_base_ = ['./wsfcn_wideresnet38_30ep_coco14-321.py']
model = dict(
    decode_head=dict(
        context_cfg=dict(_delete_=True, type='ASPPContext',
                         dilations=(1, 12, 24, 36)),
        fusion_cfg=dict(_delete_=True, type='SkipGCIFusion')),
    test_cfg=dict(bg_mode='pow', bg_pow=3))
find_unused_parameters = False
