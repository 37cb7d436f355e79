"""AssignmentEMA and EMAAssignmentHook: CoSA's AN follows ON by EMA in
mmengine's momentum convention (cosa.md 1.2, 2.5; §6 property 12)."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel, ExponentialMovingAverage
from mmengine.runner import Runner
from mmseg.registry import HOOKS

import mmseg_wsss  # noqa: F401  (registers the hooks)
from mmseg_wsss.engine.hooks.ema_assignment_hook import EMAAssignmentHook
from mmseg_wsss.models.segmentors import AssignmentEMA


class _TwoNets(BaseModel):
    """An online network and its assignment EMA, as CoSA holds them."""

    def __init__(self, momentum=0.5):
        super().__init__()
        torch.manual_seed(0)
        self.online = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        self.assignment = AssignmentEMA(self.online, momentum)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.online(inputs)
        if mode == 'loss':
            return dict(loss=(out - 1).pow(2).mean())
        return out


def _runner(model):
    return SimpleNamespace(model=model)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _set_online(model, value):
    with torch.no_grad():
        for param in model.online.parameters():
            param.fill_(value)


def _assert_equal(params, module):
    for expected, param in zip(params, module.parameters()):
        assert torch.equal(param, expected)


def test_assignment_network_is_frozen_copy():
    model = _TwoNets()
    assert all(not p.requires_grad for p in model.assignment.parameters())
    assert all(p.requires_grad for p in model.online.parameters())
    assert isinstance(model.assignment, ExponentialMovingAverage)
    assert {'assignment.steps', 'assignment.module.0.weight'} <= set(
        model.state_dict())  # checkpoints hold AN and its step count


@pytest.mark.parametrize('momentum', [-0.1, 1.5])
def test_momentum_outside_unit_interval_refused(momentum):
    with pytest.raises(ValueError, match='momentum'):
        AssignmentEMA(nn.Linear(1, 1), momentum)


def test_momentum_zero_keeps_the_first_copy():
    model = _TwoNets(momentum=0.)
    _set_online(model, 3.)
    model.assignment.update_parameters(model.online)  # the initial copy
    first = _params(model.assignment.module)
    assert all(torch.all(p == 3.) for p in first)
    for value in (1., -2., 7.):
        _set_online(model, value)
        model.assignment.update_parameters(model.online)
    _assert_equal(first, model.assignment.module)


def test_momentum_one_makes_an_equal_on():
    """The "w/o SA" ablation (cosa.md 7.15)."""
    model = _TwoNets(momentum=1.)
    model.assignment.update_parameters(model.online)
    for seed in (1, 2):
        torch.manual_seed(seed)
        with torch.no_grad():
            for param in model.online.parameters():
                param.copy_(torch.randn_like(param))
        model.assignment.update_parameters(model.online)
        _assert_equal(_params(model.online), model.assignment.module)


def test_paper_momentum_hand_built():
    """m = 0.9994: theta' = 0.9994 theta' + 0.0006 theta."""
    online = nn.Linear(2, 1, bias=False)
    ema = AssignmentEMA(online, 0.0006)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[2., -1.]]))
    ema.update_parameters(online)  # copy: theta' = (2, -1)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[1., 3.]]))
    ema.update_parameters(online)
    expected = torch.tensor([[0.9994 * 2 + 0.0006 * 1,
                              0.9994 * -1 + 0.0006 * 3]])
    torch.testing.assert_close(ema.module.weight, expected)
    assert torch.allclose(ema.module.weight, torch.tensor([[1.9994, -0.9976]]))


def test_before_train_copies_a_fresh_average():
    model = _TwoNets()
    _set_online(model, 2.)
    hook = HOOKS.build(dict(type='EMAAssignmentHook'))
    hook.before_train(_runner(model))
    _assert_equal(_params(model.online), model.assignment.module)
    assert int(model.assignment.steps) == 1


def test_before_train_keeps_a_resumed_average():
    """steps > 0: AN comes from the checkpoint and must not be reset."""
    model = _TwoNets()
    model.assignment.update_parameters(model.online)
    with torch.no_grad():
        for param in model.assignment.module.parameters():
            param.fill_(-4.)
    resumed = _params(model.assignment.module)
    EMAAssignmentHook().before_train(_runner(model))
    _assert_equal(resumed, model.assignment.module)
    assert int(model.assignment.steps) == 1


def test_after_train_iter_averages_and_unwraps():
    model = _TwoNets(momentum=0.25)
    runner = _runner(nn.DataParallel(model))
    hook = EMAAssignmentHook()
    _set_online(model, 4.)
    hook.before_train(runner)
    _set_online(model, 0.)
    hook.after_train_iter(runner, batch_idx=0)
    for param in model.assignment.module.parameters():
        torch.testing.assert_close(param, torch.full_like(param, 3.))
    # buffers (BN statistics) follow ON
    model.online[1].running_mean.fill_(5.)
    hook.after_train_iter(runner, batch_idx=1)
    assert torch.all(model.assignment.module[1].running_mean == 5.)


@pytest.mark.parametrize('model, missing', [
    (nn.Linear(2, 2), 'online'),
    (SimpleNamespace(online=nn.Linear(2, 2), assignment=nn.Linear(2, 2)),
     'ExponentialMovingAverage'),
])
def test_model_without_the_two_networks_refused(model, missing):
    with pytest.raises(TypeError, match='assignment') as error:
        EMAAssignmentHook().before_train(_runner(model))
    assert missing in str(error.value)


def test_custom_attribute_names():
    model = _TwoNets()
    model.student, model.teacher = model.online, model.assignment
    _set_online(model, 6.)
    EMAAssignmentHook(online='student', assignment='teacher').before_train(
        _runner(model))
    _assert_equal(_params(model.online), model.assignment.module)


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.tensor([float(idx), 1.]))


class _RecordOnline(Hook):
    """Runs after the EMA hook: ON's parameters after each step."""

    def __init__(self):
        self.steps = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.steps.append(_params(runner.model.online))


def _train(work_dir, iters, resume=False, recorder=None):
    hooks = [dict(type='EMAAssignmentHook')]
    runner = Runner(
        model=_TwoNets(momentum=0.5),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Data(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=False)),
        custom_hooks=hooks,
        resume=resume,
        default_scope='mmseg')
    if recorder is not None:
        runner.register_hook(recorder, priority='LOWEST')
    start = _params(runner.model.online)
    runner.train()
    return runner, start


def test_runner_updates_every_iteration_and_resumes(tmp_path):
    """In a real loop AN is the EMA of ON after every optimiser step, from
    a copy of the initial ON; a resumed run continues the same average."""
    recorder = _RecordOnline()
    runner, start = _train(tmp_path / 'whole', 4, recorder=recorder)
    expected = start
    for online in recorder.steps:
        expected = [0.5 * a + 0.5 * o for a, o in zip(expected, online)]
    assert len(recorder.steps) == 4
    for want, param in zip(expected, runner.model.assignment.module.
                           parameters()):
        torch.testing.assert_close(param, want)
    assert int(runner.model.assignment.steps) == 5

    _train(tmp_path / 'split', 2)
    resumed, _ = _train(tmp_path / 'split', 4, resume=True)
    for want, param in zip(expected, resumed.model.assignment.module.
                           parameters()):
        torch.testing.assert_close(param, want)
