from .transforms import (LoadImageLevelLabels, LoadPseudoLabel,
                         LoadSaliencyMap, PackWSSSInputs)
from .wsss_coco import WSSSCOCODataset
from .wsss_voc import WSSSVOCDataset

__all__ = [
    'WSSSVOCDataset', 'WSSSCOCODataset', 'LoadImageLevelLabels',
    'LoadPseudoLabel', 'LoadSaliencyMap', 'PackWSSSInputs'
]
