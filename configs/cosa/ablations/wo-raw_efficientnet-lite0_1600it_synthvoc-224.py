# cosa.md 4, check 3: "w/o RAW": every labelled pixel weighs 1.
_base_ = ['../cosa_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(raw_weighting=False)
