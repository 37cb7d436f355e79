custom_imports = dict(imports=['mmseg_wsss'], allow_failed_imports=False)
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# No tta_model: test-time scales / flip / CRF are test_cfg keys of the
# segmentors (model.test_cfg.scales, .flip, .crf), not mmseg's SegTTAModel.
# The benchmark protocol fixes the seed (docs/benchmarks.md); the spread
# over seeds is measured there. --cfg-options randomness.seed=N changes it.
randomness = dict(seed=0)
