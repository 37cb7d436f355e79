from .pseudo_label_update_hook import PseudoLabelUpdateHook

__all__ = ['PseudoLabelUpdateHook']
