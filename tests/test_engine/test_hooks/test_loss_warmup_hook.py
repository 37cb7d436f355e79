"""LossWarmupHook: the flag follows the runner's position, also resumed."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from mmseg_wsss.engine import LossWarmupHook
from mmseg_wsss.engine.hooks import loss_warmup_hook


class _FlagModel(BaseModel):
    """Records ``seg_loss_enabled`` at every training step (on by default,
    so a warm-up must switch it off)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.seg_loss_enabled = True
        self.flags = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            self.flags.append(self.seg_loss_enabled)
            return dict(loss=out.pow(2).mean())
        return out


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx)))


def _stub(model=None, iter=0, epoch=0, max_iters=100, max_epochs=10):
    return SimpleNamespace(
        model=model or _FlagModel(), iter=iter, epoch=epoch,
        max_iters=max_iters, max_epochs=max_epochs, train_loop=None)


@pytest.mark.parametrize('cfg, key', [(dict(warmup_iters=3), 'iter'),
                                      (dict(warmup_epochs=3), 'epoch')])
def test_flag_from_position(cfg, key):
    hook = HOOKS.build(dict(type='LossWarmupHook', **cfg))
    runner = _stub()
    hook.before_train(runner)
    for position, enabled in [(0, False), (2, False), (3, True), (50, True),
                              (1, False)]:
        setattr(runner, key, position)
        hook.before_train_iter(runner, batch_idx=0)
        assert runner.model.seg_loss_enabled is enabled


def test_unwraps_model_wrappers():
    model = _FlagModel()
    runner = _stub(model=nn.DataParallel(model), iter=0)
    hook = LossWarmupHook(warmup_iters=1)
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    assert model.seg_loss_enabled is False
    assert 'seg_loss_enabled' not in vars(runner.model)


def test_checks(monkeypatch):
    for cfg in (dict(), dict(warmup_iters=1, warmup_epochs=1),
                dict(warmup_iters=-1)):
        with pytest.raises(ValueError):
            LossWarmupHook(**cfg)
    with pytest.raises(AttributeError, match='seg_loss_enabled'):
        LossWarmupHook(warmup_iters=1).before_train(
            _stub(model=nn.Linear(1, 1)))
    logged = []
    monkeypatch.setattr(loss_warmup_hook, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    # an iteration-based loop has max_epochs = 1
    LossWarmupHook(warmup_epochs=7).before_train(_stub(max_epochs=1))
    LossWarmupHook(warmup_iters=9).before_train(_stub(max_iters=10))
    LossWarmupHook(warmup_iters=10).before_train(_stub(max_iters=10))
    assert len(logged) == 2 and all('never start' in m for m in logged)


def _runner(work_dir, hook_cfg, by_epoch, length, resume=False):
    train_cfg = dict(by_epoch=True, max_epochs=length) if by_epoch else dict(
        by_epoch=False, max_iters=length)
    return Runner(
        model=_FlagModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Data(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=train_cfg,
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=by_epoch)),
        custom_hooks=[dict(type='LossWarmupHook', **hook_cfg)],
        resume=resume,
        default_scope='mmseg')


@pytest.mark.parametrize('hook_cfg, by_epoch, first, total, expect', [
    (dict(warmup_iters=3), False, 2, 5, [False, True, True]),
    (dict(warmup_epochs=2), True, 1, 3, [False, False, True, True]),
])
def test_resumed_run(tmp_path, hook_cfg, by_epoch, first, total, expect):
    """Two iterations per epoch; the resumed run must not restart the
    warm-up (a counter would) nor leave the model's default on."""
    runner = _runner(tmp_path, hook_cfg, by_epoch, first)
    runner.train()
    assert runner.model.flags == [False] * 2
    resumed = _runner(tmp_path, hook_cfg, by_epoch, total, resume=True)
    resumed.train()
    assert resumed.model.flags == expect


def test_epochs_refused_under_an_iteration_loop():
    """Its epoch stays 0: the seg losses would never start."""
    from mmengine.runner import IterBasedTrainLoop
    hook = HOOKS.build(dict(type='LossWarmupHook', warmup_epochs=7))
    runner = _stub()
    runner.train_loop = object.__new__(IterBasedTrainLoop)
    with pytest.raises(ValueError, match='warmup_iters'):
        hook.before_train(runner)


class _UpcomingModel(_FlagModel):
    """A model that prepares its segmentation losses ahead (CoSA)."""

    def __init__(self):
        super().__init__()
        self.seg_loss_upcoming = False


@pytest.mark.parametrize('cfg, key', [(dict(warmup_iters=5), 'iter'),
                                      (dict(warmup_epochs=5), 'epoch')])
@pytest.mark.parametrize('lead, first', [(0, 5), (2, 3), (5, 0), (9, 0)])
def test_lead_sets_upcoming(cfg, key, lead, first):
    """seg_loss_upcoming is True exactly from warm-up - lead on (also when
    going back, as a resumed run does); seg_loss_enabled is unchanged."""
    hook = LossWarmupHook(lead=lead, **cfg)
    runner = _stub(model=_UpcomingModel())
    hook.before_train(runner)
    for position in [0, 1, 2, 3, 4, 5, 6, 20, 2, 0]:
        setattr(runner, key, position)
        hook.before_train_iter(runner, batch_idx=0)
        assert runner.model.seg_loss_upcoming is (position >= first)
        assert runner.model.seg_loss_enabled is (position >= 5)


def test_lead_leaves_models_without_the_attribute():
    model = _FlagModel()
    runner = _stub(model=nn.DataParallel(model))
    hook = LossWarmupHook(warmup_iters=3, lead=2)
    hook.before_train(runner)
    for position in range(5):
        runner.iter = position
        hook.before_train_iter(runner, batch_idx=0)
    assert not hasattr(model, 'seg_loss_upcoming')
    assert model.seg_loss_enabled is True


def test_lead_unwraps_model_wrappers():
    model = _UpcomingModel()
    runner = _stub(model=nn.DataParallel(model), iter=1)
    hook = LossWarmupHook(warmup_iters=3, lead=2)
    hook.before_train_iter(runner, batch_idx=0)
    assert model.seg_loss_upcoming is True and model.seg_loss_enabled is False
    assert 'seg_loss_upcoming' not in vars(runner.model)


def test_negative_lead_refused():
    with pytest.raises(ValueError, match='lead'):
        LossWarmupHook(warmup_iters=3, lead=-1)
