# CIAN's test-time procedure without the CRF (cian.md 7): scales
# 0.75/1/1.25 and their element-wise max map, flip, logits averaged. For
# tools/test.py with the main config's checkpoint.
_base_ = ['../cian_efficientnet-lite0_2x400it_synthvoc-224.py']
model = dict(
    test_cfg=dict(
        scales=(0.75, 1.0, 1.25), flip=True, merge='logit', add_max=True))
