# Table III '+flip': single scale with flip (wsfcn.md 4, Table III; the main
# config has both).
_base_ = ['../wsfcn_wideresnet38_30ep_voc12aug-321.py']
model = dict(test_cfg=dict(scales=(1.0, ), flip=True))
