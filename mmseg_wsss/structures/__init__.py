from .data_sample_utils import (IGNORE_INDEX, stack_img_labels,
                                stack_pixel_weights, stack_saliency)

__all__ = [
    'IGNORE_INDEX', 'stack_img_labels', 'stack_saliency', 'stack_pixel_weights'
]
