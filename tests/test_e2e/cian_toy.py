"""CIAN's SynthVOC configs on the toy set, shared by the single-process and
the two-process end-to-end tests."""
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import make_pseudo_labels  # noqa: E402

CIAN = osp.join(ROOT, 'configs', 'cian',
                'cian_efficientnet-lite0_2x400it_synthvoc-224.py')
SEEDS = osp.join(ROOT, 'configs', 'cian',
                 'cian-seeds_efficientnet-lite0_800it_synthvoc-224.py')
TOY = osp.join(ROOT, 'configs/_base_/datasets/toy.py')


def on_toy(cfg: Config, data_root: str) -> Config:
    """Point a SynthVOC config at the toy set (5 classes, no workers)."""
    toy = Config.fromfile(TOY)
    cfg.model.backbone.init_cfg = None
    cfg.model.decode_head.num_classes = len(toy.metainfo.classes)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.dataset.metainfo = toy.metainfo
        loader.num_workers = 0
        loader.persistent_workers = False
    return cfg


def make_seeds(toy_root: str, tmp_path) -> str:
    """CIAN seeds of a random-weight CAM classifier, in ``tmp_path/seeds``
    (through tools/make_pseudo_labels.py)."""
    from mmseg.registry import MODELS
    cfg = on_toy(Config.fromfile(SEEDS), toy_root)
    cfg_file = str(tmp_path / 'seeds.py')
    cfg.dump(cfg_file)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # random backbone features are ~1e-9: large positive class weights give
    # CAMs with structure
    model.decode_head.conv_seg.weight.data.abs_().mul_(1e12)
    ckpt = str(tmp_path / 'cls.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'seeds')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    return out
