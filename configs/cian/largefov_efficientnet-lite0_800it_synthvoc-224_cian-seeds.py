# Control of CIAN on SynthVOC: the protocol's LargeFOV segmenter (the CAM
# baseline's step 3, 800 iterations) trained on CIAN's seeds instead of the
# CAM labels, no affinity module, no pairs, no retraining: how much of
# CIAN's gain the saliency seeds alone bring.
_base_ = [
    '../cam_baseline/largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py'
]
train_dataloader = dict(
    dataset=dict(pseudo_label_dir='work_dirs/cian_seeds/synthvoc'))
