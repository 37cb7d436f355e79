"""Classification-only warm-up: segmentation losses start later."""
import logging
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import HOOKS
from torch import nn


@HOOKS.register_module()
class LossWarmupHook(Hook):
    """Switch a model's segmentation losses on after a warm-up.

    Before every training iteration the hook sets ``seg_loss_enabled`` of
    the model (inside any wrapper) to whether the warm-up is over: the
    first ``warmup_iters`` iterations, or the first ``warmup_epochs``
    epochs, are warm-up (0-based ``runner.iter`` / ``runner.epoch`` below
    the count). The flag is derived from the runner's position, not
    counted, so a resumed run is right from its first iteration.

    WS-FCN / SSSS: ``warmup_epochs=7`` (epochs 0-6 classification only,
    wsfcn.md 1.2). CoSA: ``warmup_iters=6000`` (its first 6,000 iterations,
    cosa.md 1.2; the released code's ``iter <= 6000`` is
    ``warmup_iters=6001``).

    With ``lead``, a model that has a ``seg_loss_upcoming`` attribute gets
    it set True from ``lead`` iterations (epochs) before the warm-up ends
    onwards, so it can prepare what its segmentation losses need (CoSA fills
    its threshold queue there, cosa.md 2.13).

    Args:
        warmup_iters (int, optional): Warm-up length in iterations.
        warmup_epochs (int, optional): Warm-up length in epochs.
        lead (int): Length of the preparation before the warm-up ends, in
            the warm-up's unit. Default 0.

    Raises:
        ValueError: Not exactly one of the two is given, or it or ``lead``
            is negative.
    """

    def __init__(self,
                 warmup_iters: Optional[int] = None,
                 warmup_epochs: Optional[int] = None,
                 lead: int = 0):
        if (warmup_iters is None) == (warmup_epochs is None):
            raise ValueError('give exactly one of warmup_iters and '
                             f'warmup_epochs, got {warmup_iters} and '
                             f'{warmup_epochs}')
        self.by_epoch = warmup_epochs is not None
        self.warmup = warmup_epochs if self.by_epoch else warmup_iters
        if self.warmup < 0:
            raise ValueError(f'the warm-up must be >= 0, got {self.warmup}')
        if lead < 0:
            raise ValueError(f'lead must be >= 0, got {lead}')
        self.lead = lead
        self.unit = 'epoch' if self.by_epoch else 'iter'

    @staticmethod
    def _model(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Check the model has the flag; warn if it would never turn on.

        Raises:
            AttributeError: The model has no ``seg_loss_enabled``.
            ValueError: ``warmup_epochs`` under an iteration-based loop
                (its epoch never advances).
        """
        if self.by_epoch and isinstance(runner.train_loop,
                                        IterBasedTrainLoop):
            raise ValueError(
                'LossWarmupHook: warmup_epochs needs an epoch-based train '
                f'loop, got {type(runner.train_loop).__name__} (its epoch '
                'stays 0); use warmup_iters')
        model = self._model(runner)
        if not hasattr(model, 'seg_loss_enabled'):
            raise AttributeError(
                f'{type(model).__name__} has no seg_loss_enabled attribute '
                'for LossWarmupHook to set')
        length = runner.max_epochs if self.by_epoch else runner.max_iters
        if self.warmup >= length:
            print_log(
                f'LossWarmupHook: the warm-up ({self.warmup} {self.unit}s) '
                f'covers all {length} {self.unit}s of training; the '
                'segmentation losses never start',
                logger='current',
                level=logging.WARNING)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Set ``seg_loss_enabled`` from the runner's iteration or epoch."""
        position = runner.epoch if self.by_epoch else runner.iter
        enabled = position >= self.warmup
        model = self._model(runner)
        if model.seg_loss_enabled != enabled:
            print_log(
                f'segmentation losses {"on" if enabled else "off"} from '
                f'{self.unit} {position}',
                logger='current')
        model.seg_loss_enabled = enabled
        if hasattr(model, 'seg_loss_upcoming'):
            model.seg_loss_upcoming = position >= self.warmup - self.lead
