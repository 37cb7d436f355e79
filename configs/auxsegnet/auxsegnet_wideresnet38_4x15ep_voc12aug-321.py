# AuxSegNet (ICCV 2021) on PASCAL VOC 2012 aug: cross-task pairwise affinity
# only and single-scale CAMs; otherwise AuxSegNet+'s VOC config (same phase
# (a) checkpoint, 4 stages of 15 epochs, optimiser, augmentation, test-time
# scales/flip/CRF).
_base_ = [
    '../auxsegnet_plus/auxsegnet-plus_wideresnet38_4x15ep_voc12aug-321.py'
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
