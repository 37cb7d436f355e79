from .ema_assignment_hook import EMAAssignmentHook
from .gmm_threshold_hook import GMMThresholdHook
from .loss_warmup_hook import LossWarmupHook
from .pseudo_label_update_hook import PseudoLabelUpdateHook

__all__ = [
    'EMAAssignmentHook', 'GMMThresholdHook', 'LossWarmupHook',
    'PseudoLabelUpdateHook'
]
