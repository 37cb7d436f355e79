from .auxsegnet import AuxSegNetLabelGenerator
from .base import BaseLabelGenerator, image_saliency
from .cam import CAMLabelGenerator
from .segmentation import SegmentationLabelGenerator

__all__ = [
    'AuxSegNetLabelGenerator', 'BaseLabelGenerator', 'CAMLabelGenerator',
    'SegmentationLabelGenerator', 'image_saliency'
]
