import json
import math
import os.path as osp

import pytest
import torch

CAM = 'cam=configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py'
LARGEFOV = ('largefov=configs/cam_baseline/'
            'largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py')
COSA = 'cosa=configs/cosa/cosa_efficientnet-lite0_1600it_synthvoc-224.py'


@pytest.fixture
def bench(import_bench):
    return import_bench('train_step')


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

        def __init__(self, name, seconds, passes):
            self.name, self.seconds, self.passes = name, seconds, passes

        def step(self, batch):
            calls.append(self.name)
            return self.seconds, 0.

        def time_passes(self, batch):
            return self.passes

    methods = {
        name: Fake(name, s, p)
        for name, s, p in (('a', 1., None), ('b', 2., 1.5))
    }
    times = bench.time_methods(methods, {}, rounds=3)
    # one step of each per round, the first method rotating
    assert calls == ['a', 'b', 'b', 'a', 'a', 'b']
    assert times['b']['times'] == [2.] * 3
    # necessary passes only where a method has them
    assert times['b']['passes'] == [1.5] * 3 and 'passes' not in times['a']


def test_views_of_a_multi_view_method(bench):
    from mmengine.config import Config
    cosa = Config.fromfile(osp.join(bench.ROOT, COSA.split('=')[1]))
    largefov = Config.fromfile(osp.join(bench.ROOT, LARGEFOV.split('=')[1]))
    assert bench.num_views(cosa) == 2 and bench.num_views(largefov) == 1
    batch = bench.make_batch(2, 8)
    assert bench.with_views(batch, 1)['inputs'][0].shape == (3, 8, 8)
    two = bench.with_views(batch, 2)
    for image, views in zip(batch['inputs'], two['inputs']):
        assert image.shape == (3, 8, 8) and views.shape == (6, 8, 8)
        assert torch.equal(views[:3], image)
        assert torch.equal(views[3:], 255 - image)


def test_cosa_step_runs_the_assignment_network(bench, monkeypatch):
    """CoSA's timed step includes AN's pass on the weak view; its necessary
    passes run ON forward + backward and AN, and leave no gradient."""
    method = bench.Method('cosa', COSA.split('=')[1], 32, 'cpu')
    model = method.model
    assert model.seg_loss_enabled  # the step after the warm-up
    weak = []
    multiscale = model.multiscale_outputs

    def spy(net, images, *args, **kwargs):
        weak.append((net, images.shape))
        return multiscale(net, images, *args, **kwargs)

    monkeypatch.setattr(model, 'multiscale_outputs', spy)
    batch = bench.make_batch(2, 32)
    seconds, loss = method.step(batch)
    assert seconds > 0 and math.isfinite(loss)
    assert weak == [(model.assignment_net, (2, 3, 32, 32))]
    assert method.time_passes(batch) > 0
    assert len(weak) == 2
    assert all(p.grad is None for p in model.parameters())


def test_cosa_overhead_over_necessary_passes(bench, tmp_path):
    out = tmp_path / 'r.json'
    bench.main([
        '--configs', LARGEFOV, COSA, '--batch-size', '1', '--crop', '32',
        '--rounds', '1', '--warmup', '0', '--no-memory', '--out', str(out)
    ])
    res = json.loads(out.read_text())['methods']
    cosa = res['cosa']
    assert cosa['passes_median_s'] > 0 and math.isfinite(cosa['last_loss'])
    assert cosa['overhead'] == cosa['times_s'][0] / cosa['passes_s'][0]
    assert 'overhead' not in res['largefov']
    table = (tmp_path / 'r.md').read_text()
    assert f"| cosa | {cosa['median_s']:.3f} | {cosa['ratio']:.2f} | " \
        f"{cosa['overhead']:.2f} |" in table
    assert '| largefov | ' in table and ' | 1.00 | - |' in table
