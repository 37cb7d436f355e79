# cosa.md 4, check 1: the CAM-to-segmentation baseline of Tab. 3(a): ON's
# own CAMs (AN = ON: mmengine momentum 1), thresholded at a fixed 0.5,
# plain CE on ON's segmentation; no Seg-to-CAM, no CSC, no RAW.
_base_ = ['../cosa_efficientnet-lite0_1600it_synthvoc-224.py']
fixed = dict(type='GMMThresholdTracker', threshold_mode='fixed', init_xi=0.5)
model = dict(
    ema_momentum=1.0,
    # _delete_: replace the base's gmm2 tracker (threshold_aux has no base)
    threshold=dict(fixed, _delete_=True),
    threshold_aux=fixed,
    raw_weighting=False,
    loss_s2c=None,
    loss_csc=None)
