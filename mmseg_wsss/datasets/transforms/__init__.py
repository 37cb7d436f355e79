from .formatting import PackWSSSInputs
from .loading import (ComputeRAWReliability, LoadCAMConfidence,
                      LoadImageLevelLabels, LoadPseudoLabel, LoadSaliencyMap)
from .processing import (ColorJitter, PILGaussianBlur, RandomRescale,
                         RandomResizedCrop, adjust_hue_bgr)
from .views import STRONG_OPS, WeakStrongViews, strong_op

__all__ = [
    'LoadImageLevelLabels', 'LoadPseudoLabel', 'LoadSaliencyMap',
    'PackWSSSInputs', 'RandomResizedCrop', 'ColorJitter', 'adjust_hue_bgr',
    'RandomRescale', 'PILGaussianBlur', 'WeakStrongViews', 'STRONG_OPS',
    'strong_op', 'LoadCAMConfidence', 'ComputeRAWReliability'
]
