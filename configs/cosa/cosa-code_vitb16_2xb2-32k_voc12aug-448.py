# CoSA, released-code preset (cosa.md 3, "code preset" column): fixed dual
# thresholds (M': 0.2 / 0.7 as the logged VOC run, M-dagger': 0.25 / 0.7),
# no RAW, no contrastive separation, fg / bg-balanced CE averaged over the
# two CPLs, ReLU before the Seg-to-CAM sigmoid on SPL of the logit sum
# (tau 0.01 on the sum = tau 0.01 / 6 on the mean), M-dagger' from the last
# scale only, the dense-energy regulariser (weight 0.05 x 1e-7), and the
# GT-label-masked test of the reported numbers.
_base_ = ['./cosa_vitb16_2xb2-32k_voc12aug-448.py']
model = dict(
    threshold=dict(
        _delete_=True,
        type='GMMThresholdTracker',
        threshold_mode='fixed',
        dual_threshold=(0.2, 0.7)),
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
    dict(type='LossWarmupHook', warmup_iters=6001)
]
