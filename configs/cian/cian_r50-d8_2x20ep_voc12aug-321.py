# CIAN with ResNet-50 (the paper's second backbone).
_base_ = ['./cian_r101-d8_2x20ep_voc12aug-321.py']
model = dict(
    pretrained='open-mmlab://resnet50_v1c', backbone=dict(depth=50))
