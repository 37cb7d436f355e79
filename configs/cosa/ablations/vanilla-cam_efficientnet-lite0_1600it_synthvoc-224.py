# cosa.md 4, check 2: vanilla CAMs: no Seg-to-CAM loss (lambda_s2c = 0);
# compare the CPL quality (test_cfg.output='cam') with the full model.
_base_ = ['../cosa_efficientnet-lite0_1600it_synthvoc-224.py']
model = dict(loss_s2c=None)
