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
SYNTH = osp.join(ROOT, 'configs', 'cosa',
                 'cosa_efficientnet-lite0_1600it_synthvoc-224.py')
TOY = osp.join(ROOT, 'configs', '_base_', 'datasets', 'toy.py')
NUM_VAL = 6


@pytest.fixture
def bench(import_bench):
    return import_bench('cls_map')


def test_mean_ap_by_hand(bench):
    pytest.importorskip('sklearn.metrics')
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
    make_toy_dataset(str(root), num_train=1, num_val=NUM_VAL, size=64, seed=2)
    cfg = Config.fromfile(SYNTH)
    toy = Config.fromfile(TOY)
    num_classes = len(toy.metainfo.classes)
    cfg.model.decode_head.num_classes = num_classes
    cfg.model.cam_head.num_classes = num_classes
    cfg.test_dataloader.dataset.update(data_root=str(root),
                                       metainfo=toy.metainfo)
    cfg.test_dataloader.num_workers = 0
    # the whole split in one batch: the direct forward below covers it all
    cfg.test_dataloader.batch_size = NUM_VAL
    return cfg


def test_scores_come_from_the_chosen_network(bench, toy_cfg, tmp_path):
    pytest.importorskip('sklearn.metrics')
    torch.manual_seed(0)
    init_default_scope('mmseg')
    model = MODELS.build(toy_cfg.model).eval()
    with torch.no_grad():
        for param in model.assignment_net.parameters():
            param.add_(0.05 * torch.randn_like(param))
    loader = Runner.build_dataloader(toy_cfg.test_dataloader)
    batch = model.data_preprocessor(next(iter(loader)), False)
    expected_labels = np.stack([
        loader.dataset[i]['data_samples'].gt_img_labels.numpy()
        for i in range(NUM_VAL)
    ])
    by_net = {}
    for net, network in (('assignment', model.assignment_net), ('online',
                                                                model.online)):
        scores, labels = bench.class_scores(model, loader, net)
        by_net[net] = scores
        np.testing.assert_array_equal(labels, expected_labels)
        with torch.no_grad():
            out = network(batch['inputs'], with_seg=False)
        for name in bench.SCORES:
            assert scores[name].shape == (NUM_VAL, 4)
            np.testing.assert_allclose(scores[name],
                                       out[name].numpy(),
                                       rtol=1e-5,
                                       atol=1e-6)
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    cfg_file = tmp_path / 'cfg.py'
    toy_cfg.dump(str(cfg_file))
    out_file = tmp_path / 'r.json'
    res = bench.main(
        [str(cfg_file),
         str(ckpt), '--device', 'cpu', '--out',
         str(out_file)])
    assert res['images'] == NUM_VAL
    written = json.loads(out_file.read_text())
    # the checkpoint's AN (not ON), scored against the dataset's labels
    assert bench.mean_ap(by_net['assignment']['cls_score'],
                         expected_labels)['ap'] != bench.mean_ap(
                             by_net['online']['cls_score'],
                             expected_labels)['ap']
    for name in bench.SCORES:
        expected = bench.mean_ap(by_net['assignment'][name], expected_labels)
        assert written[name]['ap'] == pytest.approx(expected['ap'])
        assert written[name]['mAP'] == pytest.approx(expected['mAP'])
    # the config's test_cfg.net picks ON unless --net overrides it
    online = bench.main([
        str(cfg_file),
        str(ckpt), '--cfg-options', 'model.test_cfg.net=online'
    ])
    assert online['net'] == 'online'
    assert online['cls_score']['ap'] == pytest.approx(
        bench.mean_ap(by_net['online']['cls_score'], expected_labels)['ap'])
    overridden = bench.main([
        str(cfg_file),
        str(ckpt), '--net', 'assignment', '--cfg-options',
        'model.test_cfg.net=online'
    ])
    assert overridden['cls_score']['ap'] == pytest.approx(
        written['cls_score']['ap'])
    with pytest.raises(ValueError, match="'bogus'"):
        bench.main([
            str(cfg_file),
            str(ckpt), '--cfg-options', 'model.test_cfg.net=bogus'
        ])
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        bench.main([str(cfg_file), str(tmp_path / 'absent.pth')])
    with pytest.raises(RuntimeError, match='missing keys'):
        broken = dict(
            state_dict={
                key: value
                for key, value in model.state_dict().items()
                if not key.startswith('assignment')
            })
        torch.save(broken, ckpt)
        bench.main([str(cfg_file), str(ckpt)])


def test_bad_calls_fail_before_scoring(bench, toy_cfg, tmp_path,
                                       monkeypatch):
    cfg_file = tmp_path / 'cfg.py'
    toy_cfg.dump(str(cfg_file))
    # neither call reaches the checkpoint (absent here) nor the split
    absent = str(tmp_path / 'absent.pth')
    with pytest.raises(ValueError, match=r'r\.txt must end in \.json'):
        bench.main([str(cfg_file), absent, '--out', str(tmp_path / 'r.txt')])
    # a None entry makes the import raise ImportError
    monkeypatch.setitem(sys.modules, 'sklearn.metrics', None)
    with pytest.raises(ImportError, match='scikit-learn'):
        bench.main([str(cfg_file), absent])


def test_rejects_a_config_that_is_not_cosa(bench, tmp_path):
    pytest.importorskip('sklearn.metrics')
    init_default_scope('mmseg')
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict={}), ckpt)
    cfg = Config(
        dict(default_scope='mmseg',
             model=dict(type='EncoderDecoder',
                        backbone=dict(type='ResNetV1c', depth=18),
                        decode_head=dict(type='FCNHead',
                                         in_channels=512,
                                         channels=8,
                                         num_classes=3))))
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    with pytest.raises(TypeError, match='builds EncoderDecoder'):
        bench.main([str(cfg_file), str(ckpt)])
