# cosa.md 4, check 2 (Tab. 4a): the Seg-to-CAM gradient stopped at the
# classifier W (it reaches only the features F).
_base_ = ['../cosa_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(s2c_detach='classifier')
