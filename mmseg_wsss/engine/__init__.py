from .hooks import LossWarmupHook, PseudoLabelUpdateHook
from .runner import SkipSampler, StagewiseTrainLoop
from .schedulers import StagewisePolyLR, StagewisePolyParamScheduler

__all__ = [
    'LossWarmupHook', 'PseudoLabelUpdateHook', 'SkipSampler',
    'StagewiseTrainLoop', 'StagewisePolyLR', 'StagewisePolyParamScheduler'
]
