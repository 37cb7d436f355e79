from .check_invalid_loss_hook import CheckInvalidLossHook
from .ema_assignment_hook import EMAAssignmentHook
from .gmm_threshold_hook import GMMThresholdHook
from .loss_warmup_hook import LossWarmupHook
from .pseudo_label_update_hook import PseudoLabelUpdateHook

__all__ = [
    'CheckInvalidLossHook', 'EMAAssignmentHook', 'GMMThresholdHook',
    'LossWarmupHook', 'PseudoLabelUpdateHook'
]
