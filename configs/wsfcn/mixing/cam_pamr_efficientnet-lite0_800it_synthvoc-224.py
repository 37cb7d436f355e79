# WS-FCN's PAMR (wsfcn.md 2.9) in the CAM baseline's label generator: the
# same classifier and threshold, with the multi-scale CAMs (and the
# background score) refined on the image before thresholding. Compared with
# the baseline's labels, this is wsfcn.md section 4 item 5 (PAMR-refined
# pseudo labels score higher against the train masks):
#   python tools/make_pseudo_labels.py THIS_CONFIG \
#       work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/iter_800.pth
_base_ = ['../../cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py']
label_generator = dict(
    pamr=dict(type='PAMR', num_iter=10, dilations=(1, 2, 4, 8, 12, 24)))
