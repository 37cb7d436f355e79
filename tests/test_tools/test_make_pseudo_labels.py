"""tools/make_pseudo_labels.py: any config's generator, stale folders, and
two CPU processes under torchrun."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.pseudo_labels import StaleLabelsError
from mmseg_wsss.utils.io import read_label_map

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tests', 'test_engine'))
import make_pseudo_labels  # noqa: E402
from auxsegnet_toy import tiny_auxsegnet_cfg  # noqa: E402

CLS_CONFIG = osp.join(ROOT,
                      'configs/cam_baseline/cam_efficientnet-lite0_toy.py')


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(str(root), num_train=5, num_val=2, size=64, seed=5)
    return str(root)


@pytest.fixture(scope='module')
def classifier(toy_root, tmp_path_factory):
    """A CAM classifier config file and a checkpoint (random weights)."""
    tmp = tmp_path_factory.mktemp('cls')
    cfg = Config.fromfile(CLS_CONFIG)
    cfg.model.backbone.init_cfg = None
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = toy_root
        cfg[f'{split}_dataloader'].num_workers = 0
    cfg.label_generator.scales = (1.0, 0.5)
    cfg_file = str(tmp / 'cls.py')
    cfg.dump(cfg_file)
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # random backbone features are ~1e-9: large positive class weights give
    # CAMs with structure
    model.decode_head.conv_seg.weight.data.abs_().mul_(1e12)
    ckpt = str(tmp / 'cls.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return cfg_file, ckpt


def _ids(root):
    return open(osp.join(root, 'ImageSets/Segmentation/train.txt')).read(
    ).split()


def _labels(out_dir, ids):
    return [read_label_map(osp.join(out_dir, f'{i}.png')) for i in ids]


def test_rerun_with_other_threshold_refuses_then_overwrites(
        classifier, toy_root, tmp_path):
    cfg_file, ckpt = classifier
    out = str(tmp_path / 'labels')
    argv = [cfg_file, ckpt, '--out-dir', out]
    make_pseudo_labels.main(argv + ['--bg-thr', '0.05'])
    low = _labels(out, _ids(toy_root))
    with pytest.raises(StaleLabelsError, match=r'labels.*rule\.bg_thr: 0\.05'
                       r' \(on disk\) vs 0\.95 \(now\)'):
        make_pseudo_labels.main(argv + ['--bg-thr', '0.95'])
    assert all(np.array_equal(a, b)
               for a, b in zip(low, _labels(out, _ids(toy_root))))
    result = make_pseudo_labels.main(argv + ['--bg-thr', '0.95',
                                             '--overwrite'])
    high = _labels(out, _ids(toy_root))
    # a higher background threshold labels more background
    assert sum((h == 0).sum() for h in high) > sum((l == 0).sum()
                                                   for l in low)
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['identity']['generator']['rule']['bg_thr'] == 0.95
    assert meta['complete'] and meta['scores'] == pytest.approx(
        result['scores'])


def test_same_request_is_reused_and_other_checkpoint_refused(
        classifier, tmp_path):
    cfg_file, ckpt = classifier
    out = str(tmp_path / 'labels')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    first = sorted(os.listdir(out))
    stamps = {f: os.stat(osp.join(out, f)).st_mtime_ns for f in first
              if f.endswith('.png')}
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    assert {f: os.stat(osp.join(out, f)).st_mtime_ns for f in stamps} == \
        stamps
    other = torch.load(ckpt, weights_only=False)
    for value in other['state_dict'].values():
        if value.is_floating_point():
            value.add_(0.01)
    other_ckpt = str(tmp_path / 'other.pth')
    torch.save(other, other_ckpt)
    with pytest.raises(StaleLabelsError, match='model:'):
        make_pseudo_labels.main([cfg_file, other_ckpt, '--out-dir', out])


def test_folder_without_meta_refused(classifier, tmp_path):
    cfg_file, ckpt = classifier
    out = tmp_path / 'labels'
    out.mkdir()
    (out / 'old.png').write_bytes(b'')
    with pytest.raises(StaleLabelsError, match='no meta.json'):
        make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', str(out)])


def test_flag_the_generator_lacks_is_refused(toy_root, tmp_path):
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path)
    cfg_file = str(tmp_path / 'aux.py')
    cfg.dump(cfg_file)
    with pytest.raises(ValueError, match='--bg-thr.*AuxSegNetLabelGenerator'):
        make_pseudo_labels.main([cfg_file, 'none.pth', '--bg-thr', '0.3'])


def test_auxsegnet_labels_offline(toy_root, tmp_path):
    """Any method's generator runs offline: AuxSegNet+ with saliency."""
    cfg = tiny_auxsegnet_cfg(toy_root, tmp_path)
    cfg.label_generator.scales = (1.0, )
    cfg_file = str(tmp_path / 'aux.py')
    cfg.dump(cfg_file)
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'aux.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'labels')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    ids = _ids(toy_root)
    assert sorted(f[:-4] for f in os.listdir(out) if f.endswith('.png')
                  ) == sorted(ids)
    assert sorted(f[:-4] for f in os.listdir(osp.join(out, 'saliency'))
                  ) == sorted(ids)
    meta = json.load(open(osp.join(out, 'meta.json')))
    assert meta['identity']['generator']['type'] == 'AuxSegNetLabelGenerator'


def test_two_cpu_processes_under_torchrun(classifier, toy_root, tmp_path):
    cfg_file, ckpt = classifier
    single = str(tmp_path / 'single')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', single])
    shared = str(tmp_path / 'ddp')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
         '2', '--master_port', '29631', 'tools/make_pseudo_labels.py',
         cfg_file, ckpt, '--out-dir', shared, '--launcher', 'pytorch'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = _ids(toy_root)
    for a, b in zip(_labels(single, ids), _labels(shared, ids)):
        np.testing.assert_array_equal(a, b)
    meta = json.load(open(osp.join(shared, 'meta.json')))
    assert meta['complete'] and 'scores' in meta


def test_other_saliency_maps_are_another_request(classifier, toy_root,
                                                 tmp_path):
    """A saliency rule's labels depend on the saliency maps: a folder made
    with other maps is refused."""
    cfg_file, ckpt = classifier
    cfg = Config.fromfile(cfg_file)
    cfg.label_generator.rule = dict(type='auxsegnet')
    cfg_file = str(tmp_path / 'sal.py')
    cfg.dump(cfg_file)
    zero = tmp_path / 'SalZero'
    shutil.copytree(osp.join(toy_root, 'SaliencyMaps'), zero)
    out = str(tmp_path / 'labels')
    argv = [cfg_file, ckpt, '--out-dir', out, '--cfg-options']
    make_pseudo_labels.main(argv[:-1])
    with pytest.raises(StaleLabelsError, match=r'dataset\.sal_dir'):
        make_pseudo_labels.main(
            argv + [f'train_dataloader.dataset.saliency_dir={zero}'])


def test_same_request_spelled_differently_is_reused(classifier, toy_root,
                                                    tmp_path):
    """An explicit default and an equivalent path are the same request."""
    cfg_file, ckpt = classifier
    out = str(tmp_path / 'labels')
    make_pseudo_labels.main([cfg_file, ckpt, '--out-dir', out])
    make_pseudo_labels.main([
        cfg_file, ckpt, '--out-dir', out, '--cfg-options',
        'label_generator.crf=None',
        f'train_dataloader.dataset.data_root={toy_root}/'
    ])
