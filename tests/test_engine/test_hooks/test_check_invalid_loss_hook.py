import os.path as osp
import warnings
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from mmseg_wsss.engine.hooks import CheckInvalidLossHook

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..')
COSA = 'configs/cosa/cosa_efficientnet-lite0_1600it_synthvoc-224.py'


def run_iter(hook, it: int, loss: float) -> None:
    runner = SimpleNamespace(iter=it)
    outputs = dict(loss=torch.tensor(loss), loss_cls=torch.tensor(0.5))
    hook.after_train_iter(runner, 0, None, outputs)


def test_finite_loss_passes():
    run_iter(CheckInvalidLossHook(), 0, 1.5)


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_invalid_loss_raises_with_iteration(bad):
    with pytest.raises(FloatingPointError, match='iteration 40 .*loss_cls'):
        run_iter(CheckInvalidLossHook(), 39, bad)


def test_loss_with_grad_checked_without_warning():
    """The loss of a real step requires grad; reading it must not warn
    (torch warns on ``float()`` of such a tensor) every iteration."""
    weight = torch.ones(1, requires_grad=True)
    outputs = dict(loss=(weight * 2).sum())
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        CheckInvalidLossHook().after_train_iter(
            SimpleNamespace(iter=0), 0, None, outputs)


def test_interval_skips_other_iterations():
    hook = CheckInvalidLossHook(interval=10)
    run_iter(hook, 3, float('nan'))  # iteration 4: not checked
    with pytest.raises(FloatingPointError):
        run_iter(hook, 9, float('nan'))


def test_bad_interval():
    with pytest.raises(ValueError, match='interval'):
        CheckInvalidLossHook(interval=0)


def test_protocol_schedule_registers_it():
    from mmseg.registry import HOOKS
    from mmseg.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, COSA))
    hook = HOOKS.build(cfg.default_hooks.check_invalid_loss)
    assert isinstance(hook, CheckInvalidLossHook)


def test_runs_after_logging_before_checkpoint():
    """After the logger hook, before the diverged iteration's checkpoint."""
    from mmengine.hooks import CheckpointHook, LoggerHook
    from mmengine.runner import get_priority as priority
    own = priority(CheckInvalidLossHook.priority)
    assert priority(LoggerHook.priority) < own
    assert own < priority(CheckpointHook.priority)
