"""CoSA's assignment network: an EMA of the online network."""
from typing import Optional

from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import ExponentialMovingAverage, is_model_wrapper
from mmseg.registry import HOOKS
from torch import nn


@HOOKS.register_module()
class EMAAssignmentHook(Hook):
    """Keep a model's assignment network an EMA of its online network.

    The model holds the online network (trained by gradient) as attribute
    ``online`` and the assignment network as ``assignment``, an mmengine
    :class:`ExponentialMovingAverage` of it (cosa.md 1.2, 2.5). Before
    training the hook copies the online weights into the assignment network
    unless the average has already been updated (a resumed run restores it
    from the checkpoint, ``steps > 0``); after every training iteration
    (with gradient accumulation: every iteration, not every optimiser step) it
    calls ``assignment.update_parameters(online)``:
    ``theta' <- (1 - momentum) theta' + momentum theta`` in mmengine's
    convention (CoSA's ``m = 0.9994`` is ``momentum = 0.0006``).

    AN's buffers (BN running statistics) are copied from ON's, which under
    distributed training are each rank's own (mmengine's DDP does not
    broadcast buffers); the hook averages AN's floating-point buffers over
    the ranks after every update, so every rank's AN is the same network.

    mmengine's stock ``EMAHook`` is not this: it swaps the averaged weights
    into the whole model for validation, whereas CoSA's teacher is a separate
    network used inside the training step.

    Args:
        online (str): Attribute name of the online network.
        assignment (str): Attribute name of the
            :class:`ExponentialMovingAverage`.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, online: str = 'online', assignment: str = 'assignment'):
        self.online = online
        self.assignment = assignment

    def _networks(self, runner) -> tuple:
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        return getattr(model, self.online), getattr(model, self.assignment)

    def before_train(self, runner) -> None:
        """Check the model; copy ON into AN unless already averaged.

        Raises:
            TypeError: The model lacks the two networks, or ``assignment``
                is not an :class:`ExponentialMovingAverage`.
        """
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        online = getattr(model, self.online, None)
        assignment = getattr(model, self.assignment, None)
        if not isinstance(online, nn.Module) or not isinstance(
                assignment, ExponentialMovingAverage):
            raise TypeError(
                f'EMAAssignmentHook needs {type(model).__name__}.'
                f'{self.online} (an nn.Module) and .{self.assignment} (an '
                'mmengine ExponentialMovingAverage of it), got '
                f'{type(online).__name__} and {type(assignment).__name__}')
        if int(assignment.steps) == 0:
            assignment.update_parameters(online)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Average the online weights into the assignment network."""
        online, assignment = self._networks(runner)
        assignment.update_parameters(online)
        if get_world_size() > 1:
            for buffer in assignment.module.buffers():
                if buffer.is_floating_point():
                    all_reduce(buffer, 'mean')
