import json
import math
import os.path as osp
import sys

import pytest
import torch

BENCH = osp.join(osp.dirname(__file__), '..', '..', 'bench')
CAM = 'cam=configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py'
LARGEFOV = ('largefov=configs/cam_baseline/'
            'largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py')


@pytest.fixture
def bench():
    sys.path.insert(0, BENCH)
    try:
        import train_step
        yield train_step
    finally:
        sys.path.remove(BENCH)


def test_batch_is_a_dataloader_batch(bench):
    batch = bench.make_batch(3, 16)
    assert len(batch['inputs']) == len(batch['data_samples']) == 3
    assert all(x.dtype == torch.uint8 and x.shape == (3, 16, 16)
               for x in batch['inputs'])
    for sample in batch['data_samples']:
        seg = sample.gt_sem_seg.data
        assert seg.shape == (1, 16, 16) and (seg == 255).any()
        assert seg[seg != 255].max() < 21
        assert set(sample.gt_saliency.data.unique().tolist()) == {0, 1, 255}
        labels = sample.gt_img_labels
        assert labels.shape == (20, ) and labels.sum() >= 1


def test_times_ratios_and_failures(bench, tmp_path):
    out = tmp_path / 'r.json'
    bench.main([
        '--configs', CAM, LARGEFOV, 'broken=configs/missing.py',
        '--batch-size', '1', '--crop', '32', '--rounds', '1', '--warmup',
        '0', '--no-memory', '--out', str(out)
    ])
    res = json.loads(out.read_text())['methods']
    assert res['largefov']['ratio'] == 1.0
    for name in ('cam', 'largefov'):
        assert res[name]['median_s'] > 0 and res[name]['ratio'] > 0
        assert math.isfinite(res[name]['last_loss'])
    assert 'median_s' not in res['broken'] and res['broken']['error']
    table = (tmp_path / 'r.md').read_text()
    assert '| cam |' in table and '- broken:' in table


def test_memory_of_one_step(bench, capsys):
    bench.main(['--memory-of', CAM, '--batch-size', '1', '--crop', '32'])
    mem = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert mem['peak_mib'] > 0 and mem['step_mib'] >= 0


def test_reference_must_be_compared(bench):
    with pytest.raises(ValueError, match='reference'):
        bench.main(['--configs', CAM, '--no-memory'])


def test_rounds_interleave_methods(bench):
    calls = []

    class Fake:

        def __init__(self, name, seconds):
            self.name, self.seconds = name, seconds

        def step(self, batch):
            calls.append(self.name)
            return self.seconds, 0.

    methods = {name: Fake(name, s) for name, s in (('a', 1.), ('b', 2.))}
    times = bench.time_methods(methods, {}, rounds=3)
    # one step of each per round, the first method rotating
    assert calls == ['a', 'b', 'b', 'a', 'a', 'b']
    assert times['b']['times'] == [2.] * 3
