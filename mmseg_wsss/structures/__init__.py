from .data_sample_utils import IGNORE_INDEX, stack_img_labels, stack_saliency

__all__ = ['IGNORE_INDEX', 'stack_img_labels', 'stack_saliency']
