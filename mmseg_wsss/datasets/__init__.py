from .samplers import CommonClassPairSampler, InfiniteCommonClassPairSampler
from .toy import TOY_CLASSES, TOY_PALETTE, make_toy_dataset
from .transforms import (LoadImageLevelLabels, LoadPseudoLabel,
                         LoadSaliencyMap, PackWSSSInputs)
from .wsss_coco import WSSSCOCODataset
from .wsss_voc import WSSSVOCDataset

__all__ = [
    'WSSSVOCDataset', 'WSSSCOCODataset', 'LoadImageLevelLabels',
    'LoadPseudoLabel', 'LoadSaliencyMap', 'PackWSSSInputs', 'TOY_CLASSES',
    'TOY_PALETTE', 'make_toy_dataset', 'CommonClassPairSampler',
    'InfiniteCommonClassPairSampler'
]
