# cosa.md 4, check 3: "w/o CSC": no contrastive separation loss.
_base_ = ['../cosa_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(loss_csc=None)
