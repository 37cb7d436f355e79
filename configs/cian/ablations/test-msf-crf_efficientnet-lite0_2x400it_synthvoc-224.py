# CIAN's test-time procedure (cian.md 7): scales 0.75/1/1.25 and their max
# map, flip, logits averaged, dense CRF 5 iterations (Gaussian 3/3,
# bilateral 80/13/10). For tools/test.py with the main config's checkpoint.
_base_ = ['./test-msf_efficientnet-lite0_2x400it_synthvoc-224.py']
model = dict(test_cfg=dict(crf=dict(num_iters=5)))
