# CIAN seeds on VOC from the project's WideResNet-38 CAM classifier (the
# classification phase of AuxSegNet+, cian.md 2 [D]: any CAM classifier of
# the project); CIAN's rule with the dataset's saliency maps.
_base_ = ['../auxsegnet_plus/auxsegnet-plus_wideresnet38_cls_voc12aug-448.py']
label_generator = dict(
    _delete_=True,
    type='CAMLabelGenerator',
    scales=(1.0, ),
    flip=False,
    rule=dict(type='cian', cam_thr=0.3, bg_sal_thr=0.06, overlap='ignore'))
