"""Refits the dynamic CAM thresholds after every training iteration."""
from typing import List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch import nn

from ...models.utils.threshold_tracker import GMMThresholdTracker

PREFIX = 'threshold'


def threshold_log_key(name: str) -> str:
    """The message-hub key of the tracker at module path ``name``.

    The last path component's ``threshold`` prefix becomes ``xi`` (any
    other name gets ``xi_`` in front), the rest of the path is kept:
    ``threshold`` -> ``train/xi``, ``threshold_aux`` -> ``train/xi_aux``,
    ``head.threshold`` -> ``train/head.xi``, ``tracker`` ->
    ``train/xi_tracker``. A dual threshold is logged as ``<key>_lo`` and
    ``<key>_hi``.
    """
    *path, last = name.split('.')
    if last.startswith(PREFIX):
        last = 'xi' + last[len(PREFIX):]
    else:
        last = f'xi_{last}'
    return 'train/' + '.'.join(path + [last])


@HOOKS.register_module()
class GMMThresholdHook(Hook):
    """Refit every ``GMMThresholdTracker`` of the model and log it.

    After every ``interval`` training iterations each tracker in the model
    (inside any wrapper) refits its threshold from its queue (cosa.md 2.9:
    the threshold used at iteration ``t`` comes from the queue up to
    ``t - 1``). The new thresholds, the ones the next iteration uses, go
    to ``runner.message_hub`` under :func:`threshold_log_key`. Every rank
    refits: the trackers' queues are the same on all ranks, so are the
    thresholds.

    Args:
        interval (int): Refit every ``interval`` iterations.

    Raises:
        ValueError: ``interval`` is not a positive int.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 1):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f'interval must be an int >= 1, got {interval!r}')
        self.interval = interval
        self._trackers: Optional[List[Tuple[str, GMMThresholdTracker]]] = None

    @staticmethod
    def _model(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _find_trackers(self,
                       runner) -> List[Tuple[str, GMMThresholdTracker]]:
        return [(name, module)
                for name, module in self._model(runner).named_modules()
                if isinstance(module, GMMThresholdTracker)]

    def before_train(self, runner) -> None:
        """Find the trackers.

        Raises:
            ValueError: The model holds no ``GMMThresholdTracker``.
        """
        self._trackers = self._find_trackers(runner)
        if not self._trackers:
            raise ValueError(
                f'GMMThresholdHook: {type(self._model(runner)).__name__} '
                'holds no GMMThresholdTracker to refit; remove the hook or '
                'give the model a tracker')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Refit every tracker and log its threshold."""
        if not self.every_n_train_iters(runner, self.interval):
            return
        if self._trackers is None:
            self._trackers = self._find_trackers(runner)
        for name, tracker in self._trackers:
            tracker.refit()
            key = threshold_log_key(name)
            if tracker.is_dual:
                lo, hi = tracker.current()
                runner.message_hub.update_scalar(f'{key}_lo', lo)
                runner.message_hub.update_scalar(f'{key}_hi', hi)
            else:
                runner.message_hub.update_scalar(key, tracker.current())
