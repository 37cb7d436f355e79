# SSSS in its own release's schedule (wsfcn.md 1.2): 24 epochs, the first 5
# classification only (its released checkpoint is from epoch 20), and its
# release's learning-rate multipliers x1 / x2 / x10 / x20 (visinf/1-stage-wseg
# base_net; WS-FCN doubled the new layers' to x20 / x40).
_base_ = ['./ssss_wideresnet38_30ep_voc12aug-321.py']
optim_wrapper = dict(paramwise_cfg=dict(lr_mults=(1, 2, 10, 20)))
train_cfg = dict(max_epochs=24)
custom_hooks = [dict(type='LossWarmupHook', warmup_epochs=5)]
