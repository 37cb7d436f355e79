# Control for the label updates (docs/benchmarks.md): AuxSegNet's model,
# optimiser and 800 iterations as one stage (one poly decay) on the fixed
# labels(0), no relabelling. AuxSegNet minus this control is what the
# label updates add beyond more training.
_base_ = ['./auxsegnet_efficientnet-lite0_4x200it_synthvoc-224.py']
pseudo_label_dir = ('work_dirs/auxsegnet_efficientnet-lite0_4x200it_'
                    'synthvoc-224/pseudo_labels/auxsegnet/stage_0')
train_dataloader = dict(dataset=dict(pseudo_label_dir=pseudo_label_dir))
param_scheduler = dict(
    _delete_=True,
    type='PolyLR',
    eta_min=0.,
    power=0.9,
    begin=0,
    end=800,
    by_epoch=False)
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=800, val_interval=800)
default_hooks = dict(checkpoint=dict(interval=800, max_keep_ckpts=1))
custom_hooks = []
