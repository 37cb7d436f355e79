# SSSS in its own release's schedule (wsfcn.md 1.2): 24 epochs, the first 5
# classification only (its released checkpoint is from epoch 20).
_base_ = ['./ssss_wideresnet38_30ep_voc12aug-321.py']
train_cfg = dict(max_epochs=24)
custom_hooks = [dict(type='LossWarmupHook', warmup_epochs=5)]
