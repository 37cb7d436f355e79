from .affinity import (PairwiseAffinity, UnaryAffinity, flatten_positions,
                       pairwise_affinity, pairwise_context, propagate,
                       unary_affinity, unary_context)
from .cam import (cam_from_features, cam_to_seg_logits, mask_absent_classes,
                  max_normalize, minmax_normalize, multiscale_cam)
from .cross_task_affinity import (AffinityFusion, CrossTaskDualAffinity,
                                  refine_unary)
from .multiscale import multiscale_flip, sum_views

__all__ = [
    'PairwiseAffinity', 'UnaryAffinity', 'flatten_positions',
    'pairwise_affinity', 'pairwise_context', 'propagate', 'unary_affinity',
    'unary_context', 'cam_from_features', 'cam_to_seg_logits',
    'mask_absent_classes', 'max_normalize', 'minmax_normalize',
    'multiscale_cam', 'AffinityFusion', 'CrossTaskDualAffinity',
    'refine_unary', 'multiscale_flip', 'sum_views'
]
