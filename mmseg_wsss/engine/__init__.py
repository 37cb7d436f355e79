from .hooks import PseudoLabelUpdateHook
from .runner import SkipSampler, StagewiseTrainLoop
from .schedulers import StagewisePolyLR, StagewisePolyParamScheduler

__all__ = [
    'PseudoLabelUpdateHook', 'SkipSampler', 'StagewiseTrainLoop',
    'StagewisePolyLR', 'StagewisePolyParamScheduler'
]
