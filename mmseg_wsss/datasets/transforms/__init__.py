from .formatting import PackWSSSInputs
from .loading import LoadImageLevelLabels, LoadPseudoLabel, LoadSaliencyMap
from .processing import ColorJitter, RandomResizedCrop, adjust_hue_bgr

__all__ = [
    'LoadImageLevelLabels', 'LoadPseudoLabel', 'LoadSaliencyMap',
    'PackWSSSInputs', 'RandomResizedCrop', 'ColorJitter', 'adjust_hue_bgr'
]
