from .cam_metric import CAMMetric, cam_confusion, cam_dir_stats
from .pseudo_label_metric import (PseudoLabelMetric, class_scores,
                                  class_table, confusion_matrix,
                                  label_dir_stats, summarize)

__all__ = [
    'CAMMetric', 'PseudoLabelMetric', 'cam_confusion', 'cam_dir_stats',
    'class_scores', 'class_table', 'confusion_matrix', 'label_dir_stats',
    'summarize'
]
