from .hooks import LossWarmupHook, PseudoLabelUpdateHook
from .optimizers import SSSSOptimWrapperConstructor
from .runner import SkipSampler, StagewiseTrainLoop
from .schedulers import StagewisePolyLR, StagewisePolyParamScheduler

__all__ = [
    'LossWarmupHook', 'PseudoLabelUpdateHook', 'SSSSOptimWrapperConstructor',
    'SkipSampler', 'StagewiseTrainLoop', 'StagewisePolyLR',
    'StagewisePolyParamScheduler'
]
