"""CIAN's SynthVOC recipe on the toy set in two gloo processes
(tools/dist_train.sh): common-class pairs dealt whole to the ranks, and
labels(2) written rank-sharded at the stage boundary."""
import itertools
import json
import os
import os.path as osp
import socket
import subprocess
import sys

from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmseg_wsss.datasets.samplers import common_class_pair_sampler
from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.utils.io import read_label_map

# pytest puts this folder (no __init__.py) on sys.path
from cian_toy import CIAN, ROOT, make_seeds, on_toy

STAGE_ITERS = 2
BATCH_SIZE = 2  # one pair per process

# Registered in each training process (custom_imports): appends the image
# paths of every batch a rank trains on to batches_rank<rank>.jsonl.
PROBE = """
import json

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class BatchPathProbe(Hook):

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        paths = [s.img_path for s in data_batch['data_samples']]
        with open(f'{runner.work_dir}/batches_rank{runner.rank}.jsonl',
                  'a') as f:
            f.write(json.dumps(paths) + '\\n')
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _sampler_streams(cfg: Config, monkeypatch) -> dict:
    """``{(stage, rank, world_size): image paths}`` of the stages' first
    ``STAGE_ITERS`` batches as the sampler deals them in this process
    (stage ``s`` seeds its sampler with ``randomness.seed + s``)."""
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    streams = {}
    for stage, (rank, world_size) in itertools.product(
            range(2), [(0, 2), (1, 2), (0, 1)]):
        monkeypatch.setattr(
            common_class_pair_sampler,
            'get_dist_info',
            lambda r=rank, w=world_size: (r, w))
        sampler = common_class_pair_sampler.InfiniteCommonClassPairSampler(
            dataset, seed=cfg.randomness.seed + stage)
        streams[stage, rank, world_size] = [
            dataset.get_data_info(i)['img_path']
            for i in itertools.islice(sampler, STAGE_ITERS * BATCH_SIZE)
        ]
    return streams


def test_two_process_pairs_and_relabelling(tmp_path, monkeypatch):
    """Two stages of two iterations, batch 2 per process: every batch is a
    whole common-class pair, the ranks' pairs are disjoint and are the ones
    the sampler deals over the same seed (rank r's first pair is a
    single-process run's pair r), and labels(2) cover every image once,
    half of them made by rank 0."""
    toy_root = str(tmp_path / 'toy')
    make_toy_dataset(toy_root, num_train=8, num_val=2, size=64, seed=1)
    seeds = make_seeds(toy_root, tmp_path)
    (tmp_path / 'pair_probe.py').write_text(PROBE)
    work_dir = tmp_path / 'run'
    cfg = on_toy(Config.fromfile(CIAN), toy_root)
    cfg.train_dataloader.dataset.pseudo_label_dir = seeds
    cfg.train_dataloader.batch_size = BATCH_SIZE
    assert cfg.train_dataloader.sampler.type == \
        'InfiniteCommonClassPairSampler'
    cfg.train_cfg.stage_iters = cfg.param_scheduler.stage_iters = STAGE_ITERS
    cfg.train_cfg.val_interval = 2 * STAGE_ITERS
    cfg.default_hooks.checkpoint.interval = STAGE_ITERS
    cfg.default_hooks.logger.interval = 1
    # labels(2) with one CRF iteration: the test checks the plumbing
    cfg.custom_hooks[0].generator.crf = dict(num_iters=1)
    cfg.custom_imports.imports.append('pair_probe')
    cfg.custom_hooks.append(dict(type='BatchPathProbe'))
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))

    # dist_train.sh runs `python`: make it this interpreter
    path = os.pathsep.join([osp.dirname(sys.executable), os.environ['PATH']])
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PORT=str(_free_port()),
        PATH=path,
        PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg_file), '2', '--work-dir',
         str(work_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(next(work_dir.glob('*/*.log'))).read()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert (work_dir / f'iter_{2 * STAGE_ITERS}.pth').exists()

    # labels(2): every image once, rank-sharded (4 + 4), complete
    ids = open(osp.join(toy_root,
                        'ImageSets/Segmentation/train.txt')).read().split()
    out = work_dir / 'pseudo_labels' / 'cian' / 'stage_1'
    assert sorted(p.stem for p in out.glob('*.png')) == sorted(ids)
    assert not list(out.rglob('.tmp_*'))
    meta = json.load(open(out / 'meta.json'))
    assert meta['complete'] and meta['info']['num_images'] == len(ids)
    assert f'pseudo labels of {len(ids)} images in {out} ' \
        f'({len(ids) // 2} made by rank 0' in log
    for img_id in ids:
        assert 255 not in read_label_map(str(out / f'{img_id}.png'))

    # the batches: whole common-class pairs, disjoint across the ranks
    img_labels = json.load(open(osp.join(toy_root, 'cls_labels.json')))
    seen = [[
        json.loads(line)
        for line in open(work_dir / f'batches_rank{rank}.jsonl')
    ] for rank in (0, 1)]
    assert [len(batches) for batches in seen] == [2 * STAGE_ITERS] * 2
    for batch_0, batch_1 in zip(*seen):
        assert not set(batch_0) & set(batch_1)
        for batch in (batch_0, batch_1):
            first, second = [
                set(img_labels[osp.splitext(osp.basename(p))[0]])
                for p in batch
            ]
            assert first & second
    streams = _sampler_streams(cfg, monkeypatch)
    for stage, rank in itertools.product(range(2), range(2)):
        batches = seen[rank][stage * STAGE_ITERS:(stage + 1) * STAGE_ITERS]
        assert sum(batches, []) == streams[stage, rank, 2]
        assert batches[0] == streams[stage, 0, 1][2 * rank:2 * rank + 2]
