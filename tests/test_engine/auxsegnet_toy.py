"""A tiny AuxSegNet+ toy run shared by the hook and DDP tests."""
import os.path as osp

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CONFIG = osp.join(
    ROOT, 'configs/auxsegnet_plus/auxsegnet-plus_efficientnet-lite0_toy.py')


def tiny_auxsegnet_cfg(data_root: str, work_dir: str, stage_iters: int = 2,
                       num_stages: int = 2) -> Config:
    """The toy config shrunk to seconds: 64 px, batch 2, tiny heads."""
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = (56, 56)
    cfg.model.decode_head.channels = 8
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.num_workers = 0
        loader.persistent_workers = False
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[4].scale = (64, 64)
    pipeline[5].crop_size = (56, 56)
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.update(
        stage_iters=stage_iters,
        num_stages=num_stages,
        val_interval=stage_iters * num_stages)
    cfg.param_scheduler.stage_iters = stage_iters
    cfg.default_hooks.checkpoint.interval = stage_iters
    cfg.default_hooks.logger.interval = 1
    hook = cfg.custom_hooks[0]
    for key in ('generator', 'init_generator'):
        hook[key].scales = (1.0, 0.5)
    return cfg
