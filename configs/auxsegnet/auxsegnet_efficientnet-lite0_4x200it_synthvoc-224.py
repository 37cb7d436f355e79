# AuxSegNet (ICCV 2021) on SynthVOC: cross-task pairwise affinity only and
# single-scale CAMs; otherwise AuxSegNet+'s SynthVOC config (same phase (a),
# stages and schedule).
_base_ = [
    '../auxsegnet_plus/auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py'
]
model = dict(decode_head=dict(affinity_mode='pairwise'))
custom_hooks = [
    dict(
        type='PseudoLabelUpdateHook',
        name='auxsegnet',
        stage_iters={{_base_.stage_iters}},
        num_stages={{_base_.num_stages}},
        generator=dict(
            type='AuxSegNetLabelGenerator',
            cam_scales=(1.0, ),
            refine=True,
            update_saliency=True),
        init_generator=dict(
            type='AuxSegNetLabelGenerator',
            cam_scales=(1.0, ),
            refine=False,
            update_saliency=False))
]
