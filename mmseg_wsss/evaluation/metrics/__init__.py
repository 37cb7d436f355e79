from .cam_metric import CAMMetric, cam_areas, cam_dir_stats
from .pseudo_label_metric import (AREA_KEYS, PseudoLabelMetric, class_scores,
                                  class_table, label_areas, label_dir_stats,
                                  summarize)

__all__ = [
    'AREA_KEYS', 'CAMMetric', 'PseudoLabelMetric', 'cam_areas',
    'cam_dir_stats', 'class_scores', 'class_table', 'label_areas',
    'label_dir_stats', 'summarize'
]
