from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmseg.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class StagewisePolyParamScheduler(_ParamScheduler):
    """Poly decay restarted at every stage boundary.

    ``value = eta_min + (base - eta_min) * (1 - t / stage_iters) ** power``
    with ``t = (step - begin) mod stage_iters``: the base value at the first
    step of every stage, close to ``eta_min`` at its last (the per-stage
    schedule of AuxSegNet, auxsegnet_plus.md 4.2). Closed form, so a resumed
    run continues exactly.

    Args:
        optimizer (Optimizer | OptimWrapper): The wrapped optimizer.
        param_name (str): Scheduled parameter, e.g. ``'lr'``.
        stage_iters (int): Steps per stage.
        eta_min (float): Value approached at the end of each stage.
        power (float): Poly power.
        begin (int): First scheduled step.
        end (int): Step after the last scheduled one.
        last_step (int): Index of the last step (resume without state).
        by_epoch (bool): Steps are epochs (else iterations).
        verbose (bool): Print every update.
    """

    def __init__(self,
                 optimizer,
                 param_name: str,
                 stage_iters: int,
                 eta_min: float = 0.,
                 power: float = 0.9,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False):
        if stage_iters <= 0:
            raise ValueError(f'stage_iters must be positive, got {stage_iters}')
        self.stage_iters = stage_iters
        self.eta_min = eta_min
        self.power = power
        super().__init__(
            optimizer,
            param_name=param_name,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def _get_value(self) -> list:
        """Closed-form value of every parameter group at ``last_step``."""
        t = (self.last_step - self.begin) % self.stage_iters
        factor = (1 - t / self.stage_iters)**self.power
        return [
            self.eta_min + (base - self.eta_min) * factor
            for base in self.base_values
        ]


@PARAM_SCHEDULERS.register_module()
class StagewisePolyLR(LRSchedulerMixin, StagewisePolyParamScheduler):
    """:class:`StagewisePolyParamScheduler` on the learning rate."""
