from .loss_warmup_hook import LossWarmupHook
from .pseudo_label_update_hook import PseudoLabelUpdateHook

__all__ = ['LossWarmupHook', 'PseudoLabelUpdateHook']
