from .affinity import (PairwiseAffinity, UnaryAffinity, flatten_positions,
                       pairwise_affinity, pairwise_context, propagate,
                       unary_affinity, unary_context)
from .cam import (cam_from_features, cam_to_seg_logits, mask_absent_classes,
                  max_normalize, minmax_normalize, multiscale_cam)
from .class_scores import focal_mask_penalty, mask_class_scores, ngwp_scores
from .context import LargeKernelContext, NonLocalContext, PPMContext
from .cross_image_affinity import (CrossImageAffinity, group_ref_index,
                                   merge_messages)
from .cross_task_affinity import (AffinityFusion, CrossTaskDualAffinity,
                                  refine_unary)
from .fca import FCA, ASPPContext
from .images import denormalize
from .multiscale import multiscale_flip, sum_views
from .pamr import PAMR
from .sf2 import SemanticAlignUpsample, SF2Fusion, SkipGCIFusion
from .stochastic_gate import StochasticGate
from .threshold_tracker import GMMThresholdTracker

__all__ = [
    'PairwiseAffinity', 'UnaryAffinity', 'flatten_positions',
    'pairwise_affinity', 'pairwise_context', 'propagate', 'unary_affinity',
    'unary_context', 'cam_from_features', 'cam_to_seg_logits',
    'mask_absent_classes', 'max_normalize', 'minmax_normalize',
    'multiscale_cam', 'focal_mask_penalty', 'mask_class_scores',
    'ngwp_scores', 'AffinityFusion', 'CrossTaskDualAffinity', 'refine_unary',
    'multiscale_flip', 'sum_views', 'PAMR', 'StochasticGate', 'FCA',
    'ASPPContext', 'SemanticAlignUpsample', 'SF2Fusion', 'SkipGCIFusion',
    'NonLocalContext', 'LargeKernelContext', 'PPMContext',
    'CrossImageAffinity', 'group_ref_index', 'merge_messages', 'denormalize',
    'GMMThresholdTracker'
]
