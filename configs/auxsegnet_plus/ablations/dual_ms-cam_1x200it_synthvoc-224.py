# Table XI: AuxSegNet+ with multi-scale CAMs (1, 0.5, 1.5) for labels(0),
# no label iteration (labels(0) of the AuxSegNet+ SynthVOC config).
_base_ = ['./dual_ss-cam_1x200it_synthvoc-224.py']
pseudo_label_dir = ('work_dirs/auxsegnet-plus_efficientnet-lite0_4x200it_'
                    'synthvoc-224/pseudo_labels/auxsegnet_plus/stage_0')
train_dataloader = dict(dataset=dict(pseudo_label_dir=pseudo_label_dir))
