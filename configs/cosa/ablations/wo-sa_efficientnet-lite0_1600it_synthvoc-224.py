# cosa.md 4, check 3 / 7.15: "w/o SA": AN is ON (mmengine momentum 1), all
# else as the full model.
_base_ = ['../cosa_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(ema_momentum=1.0)
