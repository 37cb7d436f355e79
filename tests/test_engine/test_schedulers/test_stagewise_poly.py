import pytest
import torch
from mmengine.optim import OptimWrapper

from mmseg_wsss.engine.schedulers import StagewisePolyLR


def _lrs(stage_iters, total, base=0.1, power=0.9, steps=None):
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.SGD([param], lr=base))
    sched = StagewisePolyLR(
        optim, stage_iters=stage_iters, power=power, end=total,
        by_epoch=False)
    lrs = []
    for _ in range(steps or total):
        lrs.append(optim.get_lr()['lr'][0])
        optim.step()
        sched.step()
    return lrs, sched, optim


def test_restarts_at_every_stage():
    lrs, _, _ = _lrs(stage_iters=10, total=30)
    for stage in range(3):
        assert lrs[10 * stage] == pytest.approx(0.1)
        assert lrs[10 * stage + 9] == pytest.approx(0.1 * 0.1**0.9)
        assert all(a > b for a, b in zip(lrs[10 * stage:10 * stage + 9],
                                         lrs[10 * stage + 1:10 * stage + 10]))
    assert lrs[5] == pytest.approx(0.1 * 0.5**0.9)


def test_last_iteration_of_long_stage_close_to_zero():
    lrs, _, _ = _lrs(stage_iters=1000, total=1000)
    assert lrs[-1] == pytest.approx(lrs[0] * (1 / 1000)**0.9)
    assert lrs[-1] < 3e-3 * lrs[0]


def test_state_dict_resume_continues_schedule():
    full, _, _ = _lrs(stage_iters=4, total=12)
    _, sched, _ = _lrs(stage_iters=4, total=12, steps=6)
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.SGD([param], lr=0.1))
    resumed = StagewisePolyLR(optim, stage_iters=4, end=12, by_epoch=False)
    resumed.load_state_dict(sched.state_dict())
    optim.param_groups[0]['lr'] = full[6]  # restored with the optimizer
    lrs = []
    for _ in range(6):
        lrs.append(optim.get_lr()['lr'][0])
        optim.step()
        resumed.step()
    assert lrs == pytest.approx(full[6:])


def test_rejects_bad_stage_iters():
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.SGD([param], lr=0.1))
    with pytest.raises(ValueError, match='stage_iters'):
        StagewisePolyLR(optim, stage_iters=0)
