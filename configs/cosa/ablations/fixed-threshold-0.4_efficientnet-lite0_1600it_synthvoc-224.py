# cosa.md 4, checks 3-4: a fixed threshold 0.4 for both CAMs instead of the
# GMM (the full model's "w/o dynamic threshold" is the 0.5 row).
_base_ = ['../cosa_efficientnet-lite0_1600it_synthvoc-224.py']
fixed = dict(type='GMMThresholdTracker', threshold_mode='fixed', init_xi=0.4)
# _delete_: replace the base's gmm2 tracker (threshold_aux has no base)
model = dict(threshold=dict(fixed, _delete_=True), threshold_aux=fixed)
