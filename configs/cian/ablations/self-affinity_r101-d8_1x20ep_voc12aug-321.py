# Table 2 'baseline': the self-affinity module only, seed CE on the self
# branch: round 1 only.
_base_ = ['../cian_r101-d8_2x20ep_voc12aug-321.py']
train_cfg = dict(num_stages=1)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
custom_hooks = []
model = dict(decode_head=dict(use_cross=False))
