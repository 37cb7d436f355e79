from .affinity import (PairwiseAffinity, UnaryAffinity, flatten_positions,
                       pairwise_affinity, pairwise_context, propagate,
                       unary_affinity, unary_context)
from .cam import (cam_from_features, cam_to_seg_logits, mask_absent_classes,
                  max_normalize, minmax_normalize, multiscale_cam)
from .cross_task_affinity import (AffinityFusion, CrossTaskDualAffinity,
                                  refine_unary)
from .multiscale import multiscale_flip, sum_views
from .pseudo_label import cam_saliency_seeds, cam_to_label, fuse_cam_saliency

__all__ = [
    'PairwiseAffinity', 'UnaryAffinity', 'flatten_positions',
    'pairwise_affinity', 'pairwise_context', 'propagate', 'unary_affinity',
    'unary_context', 'cam_from_features', 'cam_to_seg_logits',
    'mask_absent_classes', 'max_normalize', 'minmax_normalize',
    'multiscale_cam', 'AffinityFusion', 'CrossTaskDualAffinity',
    'refine_unary', 'cam_saliency_seeds', 'cam_to_label', 'fuse_cam_saliency',
    'multiscale_flip', 'sum_views'
]
