"""GMMThresholdHook: refits after each iteration, logs, survives resume."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from mmseg_wsss.engine.hooks import GMMThresholdHook
from mmseg_wsss.engine.hooks.gmm_threshold_hook import threshold_log_key
from mmseg_wsss.models.utils import GMMThresholdTracker

SAMPLES = 64  # per image


def _trackers() -> dict:
    return dict(
        threshold=GMMThresholdTracker(
            downsample=1, queue_len=4, min_queued=2),
        threshold_aux=GMMThresholdTracker(
            'gmm3', downsample=1, queue_len=4, min_queued=2, xi_ema=0.5))


class _TrackedModel(BaseModel):
    """Reads both thresholds, then queues its inputs as 1 x 1 x N CAMs,
    like a CoSA training step."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(SAMPLES, 1)
        for name, tracker in _trackers().items():
            self.add_module(name, tracker)
        self.used = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode != 'loss':
            return self.linear(inputs)
        self.used.append(
            (self.threshold.current(), self.threshold_aux.current()))
        for tracker in (self.threshold, self.threshold_aux):
            tracker.enqueue(inputs[:, None, None])
        return dict(loss=self.linear(inputs).pow(2).mean())


def _batch(index: int) -> torch.Tensor:
    """One image's samples: three modes whose weights change with index."""
    gen = torch.Generator().manual_seed(index)
    modes = torch.tensor([0.15, 0.5, 0.85])[torch.randint(
        0, 3 if index % 2 else 2, (SAMPLES, ), generator=gen)]
    return (modes + 0.05 * torch.randn(SAMPLES, generator=gen)).clamp(0, 1)


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, index):
        return dict(inputs=_batch(index))


def _runner(model, work_dir, name, **kwargs) -> Runner:
    return Runner(
        model=model,
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=_Data(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=8),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=4,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='GMMThresholdHook')],
        default_scope='mmseg',
        **kwargs)


def test_in_a_runner_with_resume(tmp_path):
    """The threshold used at iteration t comes from the queue up to t - 1;
    the logged values are the refitted ones; a run resumed from a
    mid-run checkpoint ends with the trackers of the uninterrupted run."""
    model = _TrackedModel()
    runner = _runner(model, tmp_path / 'full', 'gmm_hook_full')
    runner.train()
    replay = _trackers()
    for step in range(8):
        assert model.used[step] == (replay['threshold'].current(),
                                    replay['threshold_aux'].current())
        batch = torch.stack([_batch(2 * step), _batch(2 * step + 1)])
        for tracker in replay.values():
            tracker.enqueue(batch[:, None, None])
            tracker.refit()
    assert int(model.threshold.num_fits) == 7  # from iteration 1 (2 queued)
    assert model.threshold.current() != 0.5
    hub = runner.message_hub
    assert hub.get_scalar('train/xi').current() == model.threshold.current()
    lo, hi = model.threshold_aux.current()
    assert hub.get_scalar('train/xi_aux_lo').current() == lo
    assert hub.get_scalar('train/xi_aux_hi').current() == hi
    assert len(hub.get_scalar('train/xi').data[0]) == 8

    resumed = _TrackedModel()
    runner = _runner(
        resumed,
        tmp_path / 'resumed',
        'gmm_hook_resumed',
        load_from=str(tmp_path / 'full' / 'iter_4.pth'),
        resume=True)
    runner.train()
    assert resumed.used == model.used[4:]
    for name in ('threshold', 'threshold_aux'):
        expected = getattr(model, name).state_dict()
        for key, value in getattr(resumed, name).state_dict().items():
            assert torch.equal(value, expected[key]), (name, key)


def _stub(model, iteration=0):
    return SimpleNamespace(
        model=model,
        iter=iteration,
        message_hub=MessageHub.get_instance('gmm_threshold_hook_stub'))


def test_interval_and_wrapped_model():
    model = _TrackedModel()
    hook = HOOKS.build(dict(type='GMMThresholdHook', interval=2))
    runner = _stub(nn.DataParallel(model))
    hook.before_train(runner)
    fits = []
    for step in range(6):
        runner.iter = step
        model.threshold.enqueue(_batch(step)[None, None, None])
        hook.after_train_iter(runner, batch_idx=step)
        fits.append(int(model.threshold.num_fits))
    # refits after iterations 1, 3 and 5 (0-based) only
    assert fits == [0, 1, 1, 2, 2, 3]


def test_log_keys():
    assert threshold_log_key('threshold') == 'train/xi'
    assert threshold_log_key('threshold_aux') == 'train/xi_aux'
    assert threshold_log_key('head.threshold') == 'train/head.xi'
    assert threshold_log_key('tracker') == 'train/xi_tracker'


def test_refuses_bad_interval_and_a_model_without_tracker():
    for interval in (0, 1.5):
        with pytest.raises(ValueError, match='interval'):
            GMMThresholdHook(interval=interval)
    with pytest.raises(ValueError, match='no GMMThresholdTracker'):
        GMMThresholdHook().before_train(_stub(nn.Linear(2, 2)))
