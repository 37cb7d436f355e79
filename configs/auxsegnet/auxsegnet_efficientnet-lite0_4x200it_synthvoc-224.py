# AuxSegNet (ICCV 2021) on SynthVOC: cross-task pairwise affinity only and
# single-scale CAMs; otherwise AuxSegNet+'s SynthVOC config (same phase (a),
# stages and schedule).
_base_ = [
    '../auxsegnet_plus/auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py'
]
model = dict(decode_head=dict(affinity_mode='pairwise'))
label_generator = dict(
    type='AuxSegNetLabelGenerator',
    scales=(1.0, ),
    cam_thr=0.2,
    sal_thr=0.06,
    refine=True,
    update_saliency=True,
    sal_update_ref='initial')
custom_hooks = [
    dict(
        type='PseudoLabelUpdateHook',
        name='auxsegnet',
        generator=label_generator,
        init_generator=dict(
            label_generator, refine=False, update_saliency=False))
]
