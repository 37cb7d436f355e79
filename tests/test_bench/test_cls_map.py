import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS

from mmseg_wsss.datasets.toy import make_toy_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'bench')
SYNTH = osp.join(ROOT, 'configs', 'cosa',
                 'cosa_efficientnet-lite0_1600it_synthvoc-224.py')
TOY = osp.join(ROOT, 'configs', '_base_', 'datasets', 'toy.py')
NUM_VAL = 3


@pytest.fixture
def bench():
    sys.path.insert(0, BENCH)
    try:
        import cls_map
        yield cls_map
    finally:
        sys.path.remove(BENCH)


def test_mean_ap_by_hand(bench):
    # class 0: positives ranked 1st and 3rd: AP = (1/1 + 2/3) / 2
    # class 1: ranked perfectly: AP = 1; class 2: no positive image
    scores = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.5], [0.7, 0.9, 0.5],
                       [0.1, 0.8, 0.5]])
    labels = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0]])
    res = bench.mean_ap(scores, labels)
    assert res['ap'][0] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert res['ap'][1] == pytest.approx(100.0)
    assert res['ap'][2] is None and res['no_positive'] == [2]
    assert res['mAP'] == pytest.approx((res['ap'][0] + 100) / 2)


@pytest.fixture
def toy_cfg(tmp_path):
    root = tmp_path / 'toy'
    make_toy_dataset(str(root), num_train=1, num_val=NUM_VAL, size=64,
                     seed=2)
    cfg = Config.fromfile(SYNTH)
    toy = Config.fromfile(TOY)
    num_classes = len(toy.metainfo.classes)
    cfg.model.decode_head.num_classes = num_classes
    cfg.model.cam_head.num_classes = num_classes
    cfg.test_dataloader.dataset.update(
        data_root=str(root), metainfo=toy.metainfo)
    cfg.test_dataloader.dataset.pop('saliency_dir', None)
    cfg.test_dataloader.num_workers = 0
    return cfg


def test_scores_come_from_the_chosen_network(bench, toy_cfg, tmp_path):
    init_default_scope('mmseg')
    model = MODELS.build(toy_cfg.model).eval()
    with torch.no_grad():
        for param in model.assignment_net.parameters():
            param.add_(0.05 * torch.randn_like(param))
    loader = Runner.build_dataloader(toy_cfg.test_dataloader)
    batch = model.data_preprocessor(next(iter(loader)), False)
    for net, network in (('assignment', model.assignment_net),
                         ('online', model.online)):
        scores, labels = bench.class_scores(model, loader, net)
        assert labels.shape == (NUM_VAL, 4)
        with torch.no_grad():
            out = network(batch['inputs'], with_seg=False)
        for name in bench.SCORES:
            assert scores[name].shape == (NUM_VAL, 4)
            np.testing.assert_allclose(
                scores[name][:len(batch['inputs'])], out[name].numpy(),
                rtol=1e-5, atol=1e-6)
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    cfg_file = tmp_path / 'cfg.py'
    toy_cfg.dump(str(cfg_file))
    out_file = tmp_path / 'r.json'
    res = bench.main([str(cfg_file), str(ckpt), '--out', str(out_file)])
    assert res['images'] == NUM_VAL and res['net'] == 'assignment'
    written = json.loads(out_file.read_text())
    assert written['cls_score']['mAP'] == pytest.approx(
        res['cls_score']['mAP'])
    assert all(0 <= ap <= 100 for ap in written['cls_score']['ap']
               if ap is not None)
