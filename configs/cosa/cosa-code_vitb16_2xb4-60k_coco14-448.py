# CoSA, released-code preset on MS COCO 2014 (cosa.md 3): as the VOC code
# preset, with the COCO run's upper threshold 0.65 for M' and its 10k
# classification-only iterations (the code's iter <= 10000).
_base_ = ['./cosa_vitb16_2xb4-60k_coco14-448.py']
model = dict(
    threshold=dict(
        _delete_=True,
        type='GMMThresholdTracker',
        threshold_mode='fixed',
        dual_threshold=(0.25, 0.65)),
    threshold_aux=dict(
        type='GMMThresholdTracker',
        threshold_mode='fixed',
        dual_threshold=(0.25, 0.7)),
    raw_weighting=False,
    loss_c2s=dict(_delete_=True, type='FgBgBalancedCELoss', loss_weight=0.1),
    aux_c2s_reduce='mean',
    loss_s2c=dict(relu_before_sigmoid=True),
    spl_tau=0.01 / 6,
    loss_csc=None,
    loss_reg=dict(type='DenseEnergyLoss', loss_weight=0.05),
    aux_last_scale_only=True,
    test_cfg=dict(mask_absent_classes=True))
custom_hooks = [
    dict(type='EMAAssignmentHook'),
    dict(type='LossWarmupHook', warmup_iters=10001)
]
