"""One AuxSegNet+ stage with label generation under two gloo processes
(tools/dist_train.sh, i.e. torch.distributed.run + --launcher pytorch)."""
import json
import os
import subprocess
import sys


from mmseg_wsss.datasets.toy import make_toy_dataset

from ..auxsegnet_toy import ROOT, tiny_auxsegnet_cfg


def test_two_process_stage_with_label_generation(tmp_path):
    data_root = str(tmp_path / 'toy')
    make_toy_dataset(data_root, num_train=5, num_val=2, size=64, seed=4)
    work_dir = tmp_path / 'run'
    cfg = tiny_auxsegnet_cfg(data_root, work_dir, stage_iters=2,
                             num_stages=1)
    cfg.custom_hooks[0].generate_after_last = True
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    # dist_train.sh runs `python`: make it this interpreter (CI does not
    # activate the virtualenv)
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ['PATH']])
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT='29617', PATH=path)
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg_file), '2', '--work-dir',
         str(work_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(next(work_dir.glob('*/*.log'))).read()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    ids = open(os.path.join(data_root, 'ImageSets/Segmentation/train.txt')
               ).read().split()
    out = work_dir / 'pseudo_labels' / 'auxsegnet_plus'
    for stage in (0, 1):  # 5 images sharded 3 + 2 over the ranks
        assert sorted(p.stem for p in (out / f'stage_{stage}').glob('*.png')
                      ) == sorted(ids)
        meta = json.load(open(out / f'stage_{stage}' / 'meta.json'))
        assert meta['complete'] and meta['info']['stage'] == stage
    assert sorted(p.stem for p in (out / 'stage_1' / 'saliency').glob('*.png')
                  ) == sorted(ids)
    assert not list(out.rglob('.tmp_*'))
    assert (work_dir / 'iter_2.pth').exists()
    # the same run again in the same work dir: every rank takes rank 0's
    # decision on the existing label folders, and one model (rank 0's
    # buffers broadcast) labels all shards, so nothing waits forever
    metas = {s: json.load(open(out / f'stage_{s}' / 'meta.json'))
             for s in (0, 1)}
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg_file), '2', '--work-dir',
         str(work_dir)],
        cwd=ROOT, env=dict(env, PORT='29618'), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stage in (0, 1):
        meta = json.load(open(out / f'stage_{stage}' / 'meta.json'))
        assert meta['complete']
        assert meta['identity'] == metas[stage]['identity']
