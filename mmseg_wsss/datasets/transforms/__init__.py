from .formatting import PackWSSSInputs
from .loading import LoadImageLevelLabels, LoadPseudoLabel, LoadSaliencyMap

__all__ = [
    'LoadImageLevelLabels', 'LoadPseudoLabel', 'LoadSaliencyMap',
    'PackWSSSInputs'
]
