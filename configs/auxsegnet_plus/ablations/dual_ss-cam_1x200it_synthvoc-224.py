# Ablations (auxsegnet_plus.md 6, Tables IV/V/X), base row: AuxSegNet+ dual
# affinity trained once (no label iteration) for 200 iterations on labels(0)
# from single-scale raw CAMs + saliency, the labels(0) of the AuxSegNet
# SynthVOC config (run it first, or point pseudo_label_dir elsewhere). The
# other rows inherit this file and change only the model. 200 iterations:
# one stage of the main config, like the paper's rows (one stage each).
_base_ = ['../auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py']
pseudo_label_dir = ('work_dirs/auxsegnet_efficientnet-lite0_4x200it_'
                    'synthvoc-224/pseudo_labels/auxsegnet/stage_0')
train_dataloader = dict(dataset=dict(pseudo_label_dir=pseudo_label_dir))
param_scheduler = dict(
    _delete_=True,
    type='PolyLR',
    eta_min=0.,
    power=0.9,
    begin=0,
    end=200,
    by_epoch=False)
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=200, val_interval=200)
default_hooks = dict(checkpoint=dict(interval=200, max_keep_ckpts=1))
custom_hooks = []
