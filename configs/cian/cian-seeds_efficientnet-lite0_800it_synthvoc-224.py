# CIAN seeds (cian.md 2) from the CAM-baseline classifier: per-class
# max-normalised CAMs > 0.3 are class candidates, saliency < 0.06 is
# background, one candidate on a salient pixel is its class, everything
# else (no candidate, CAM-saliency or class conflicts) is ignored. The
# classifier is cam_efficientnet-lite0_800it_synthvoc-224.py (same model,
# same weights); only the label generator differs:
#   python tools/make_pseudo_labels.py THIS_CONFIG \
#       work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/iter_800.pth \
#       --out-dir work_dirs/cian_seeds/synthvoc
_base_ = ['../cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py']
label_generator = dict(
    _delete_=True,
    type='CAMLabelGenerator',
    scales=(1.0, ),
    flip=False,
    rule=dict(type='cian', cam_thr=0.3, bg_sal_thr=0.06, overlap='ignore'))
