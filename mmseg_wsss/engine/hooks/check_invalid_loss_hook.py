"""Stop a training as soon as its loss is no longer finite."""
import math
from typing import Optional, Union

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Raise when the total training loss is NaN or infinite.

    mmengine logs a NaN loss and trains on, so a diverged run would spend
    its whole schedule, and its checkpoints, on NaN weights. The name and
    behaviour follow MMDetection's hook of the same name; the protocol's
    schedule (``configs/_base_/schedules/schedule_800.py``) registers it
    for every SynthVOC config.

    Args:
        interval (int): Check every ``interval`` training iterations.
            Default 1 (the check reads one scalar).

    Raises:
        ValueError: If ``interval`` is below 1.
        FloatingPointError: After an iteration whose ``outputs['loss']``
            is not finite, naming the iteration and the logged losses.
    """

    priority = 'LOW'  # after LoggerHook logs the loss, before CheckpointHook

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'CheckInvalidLossHook: interval must be >= 1, '
                             f'got {interval}')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Union[dict, tuple, list]] = None,
                         outputs: Optional[dict] = None) -> None:
        """Check ``outputs['loss']`` every ``interval`` iterations."""
        if (not outputs or 'loss' not in outputs
                or not self.every_n_train_iters(runner, self.interval)):
            return
        # item() reads a tensor that requires grad without a warning
        if math.isfinite(torch.as_tensor(outputs['loss']).item()):
            return
        losses = ', '.join(f'{k}: {torch.as_tensor(v).item():.4g}'
                           for k, v in outputs.items() if 'loss' in k)
        raise FloatingPointError(
            f'training loss is not finite at iteration {runner.iter + 1} '
            f'({losses}): the run diverged; stopped before this '
            f'iteration\'s checkpoint')
