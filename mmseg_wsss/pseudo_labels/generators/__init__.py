from .auxsegnet import AuxSegNetLabelGenerator
from .base import BaseLabelGenerator, image_saliency
from .cam import CAMLabelGenerator

__all__ = [
    'AuxSegNetLabelGenerator', 'BaseLabelGenerator', 'CAMLabelGenerator',
    'image_saliency'
]
