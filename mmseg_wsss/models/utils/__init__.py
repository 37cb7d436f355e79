from .cam import (cam_from_features, cam_to_seg_logits, mask_absent_classes,
                  max_normalize, minmax_normalize, multiscale_cam)
from .pseudo_label import cam_saliency_seeds, cam_to_label, fuse_cam_saliency

__all__ = [
    'cam_from_features', 'cam_to_seg_logits', 'mask_absent_classes',
    'max_normalize', 'minmax_normalize', 'multiscale_cam',
    'cam_saliency_seeds', 'cam_to_label', 'fuse_cam_saliency'
]
