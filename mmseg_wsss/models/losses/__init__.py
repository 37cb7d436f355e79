"""Losses of the WSSS methods (mmseg ``MODELS``, each with a ``loss_name``).

The multi-label soft-margin loss of SSSS / WS-FCN is mmseg's own
``CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True)``
(:mod:`mmseg_wsss.models.utils.class_scores` says why).
"""
from .class_balanced_ce_loss import ClassBalancedCELoss
from .completion_loss import CompletionLoss, completion_targets
from .contrastive_separation_loss import ContrastiveSeparationLoss
from .dense_energy_loss import DenseEnergyLoss
from .fgbg_balanced_ce_loss import FgBgBalancedCELoss
from .raw_ce_loss import RAWCrossEntropyLoss
from .seg2cam_loss import Seg2CAMLoss

__all__ = [
    'ClassBalancedCELoss', 'CompletionLoss', 'completion_targets',
    'ContrastiveSeparationLoss', 'DenseEnergyLoss', 'FgBgBalancedCELoss',
    'RAWCrossEntropyLoss', 'Seg2CAMLoss'
]
