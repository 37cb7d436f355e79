# Table 3 '+CE + completion', random pairs: round 1 only (the main config's
# first 400 iterations, no relabelling).
_base_ = ['../cian_efficientnet-lite0_2x400it_synthvoc-224.py']
train_cfg = dict(num_stages=1)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
custom_hooks = []
train_dataloader = dict(sampler=dict(pairing='random'))
