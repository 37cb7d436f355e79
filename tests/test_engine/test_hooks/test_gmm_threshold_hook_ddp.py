"""GMMThresholdTracker + GMMThresholdHook under two gloo processes
(torch.distributed.run, as tools/dist_train.sh): the ranks queue different
CAMs, yet hold the same queue and thresholds, those of one process queueing
both ranks' batches."""
import os
import os.path as osp
import socket
import subprocess
import sys
from types import SimpleNamespace

import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from mmseg_wsss.engine.hooks import GMMThresholdHook
from mmseg_wsss.models.utils import GMMThresholdTracker

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
STEPS = 8


class _Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.threshold = GMMThresholdTracker(
            downsample=4, queue_len=5, min_queued=2)
        self.threshold_aux = GMMThresholdTracker(
            'gmm3', downsample=4, queue_len=5, min_queued=2, xi_ema=0.5)

    def trackers(self) -> tuple:
        return self.threshold, self.threshold_aux

    def tracker_state(self) -> dict:
        return {
            key: value
            for key, value in self.state_dict().items()
            if key.startswith('threshold')
        }


def _cam(rank: int, step: int) -> torch.Tensor:
    """Rank 0 queues mostly low confidences, rank 1 mostly high ones."""
    gen = torch.Generator().manual_seed(100 * rank + step)
    return torch.rand(2, 3, 32, 32, generator=gen)**(3 if rank == 0 else 0.3)


def _run(model: _Model, runner, cams) -> list:
    """Queue ``cams(step)`` and run the hook, STEPS times; the thresholds
    after each step."""
    hook = GMMThresholdHook()
    hook.before_train(runner)
    thresholds = []
    for step in range(STEPS):
        runner.iter = step
        for tracker in model.trackers():
            tracker.enqueue(cams(step))
        hook.after_train_iter(runner, batch_idx=step)
        thresholds.append([tracker.current() for tracker in model.trackers()])
    return thresholds


def _worker(out_dir: str) -> None:
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    dist.init_process_group(backend='gloo')
    rank = dist.get_rank()
    model = _Model()
    runner = SimpleNamespace(
        model=MMDistributedDataParallel(model),
        iter=0,
        message_hub=MessageHub.get_instance('gmm_threshold_ddp'))
    thresholds = _run(model, runner, lambda step: _cam(rank, step))
    torch.save(
        dict(state=model.tracker_state(), thresholds=thresholds),
        osp.join(out_dir, f'rank{rank}.pth'))
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_same_queue_and_threshold_on_both_ranks(tmp_path):
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nnodes=1',
        '--nproc_per_node=2', '--master_addr=127.0.0.1',
        f'--master_port={_free_port()}', __file__,
        str(tmp_path)
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1)]
    assert ranks[0]['thresholds'] == ranks[1]['thresholds']
    for key, value in ranks[0]['state'].items():
        assert torch.equal(value, ranks[1]['state'][key]), key
    # the union: one process queueing both ranks' batches
    model = _Model()
    runner = SimpleNamespace(
        model=model,
        iter=0,
        message_hub=MessageHub.get_instance('gmm_threshold_ddp_union'))
    thresholds = _run(model, runner,
                      lambda step: torch.cat([_cam(0, step), _cam(1, step)]))
    assert thresholds == ranks[0]['thresholds']
    state = model.tracker_state()
    assert state.keys() == ranks[0]['state'].keys()
    for key, value in state.items():
        assert torch.equal(value, ranks[0]['state'][key]), key
    assert int(model.threshold.num_fits) == STEPS - 1
    # and not what rank 0 queues alone
    alone = _Model()
    _run(alone,
         SimpleNamespace(
             model=alone,
             iter=0,
             message_hub=MessageHub.get_instance('gmm_threshold_ddp_alone')),
         lambda step: _cam(0, step))
    assert not torch.equal(alone.threshold.queue, model.threshold.queue)
    assert thresholds[-1][0] != thresholds[0][0]


if __name__ == '__main__':
    _worker(sys.argv[1])
