"""Losses of the WSSS methods (mmseg ``MODELS``, each with a ``loss_name``).

The multi-label soft-margin loss of SSSS / WS-FCN is mmseg's own
``CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True)``
(:mod:`mmseg_wsss.models.utils.class_scores` says why).
"""
from .class_balanced_ce_loss import ClassBalancedCELoss
from .completion_loss import CompletionLoss, completion_targets

__all__ = ['ClassBalancedCELoss', 'CompletionLoss', 'completion_targets']
