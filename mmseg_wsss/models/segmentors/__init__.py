from .auxsegnet import AuxSegNet
from .cam_classifier import CAMClassifier
from .cosa import AssignmentEMA, CoSA, CoSANet
from .pseudo_label_source import LABEL_OUTPUT_KEYS, PseudoLabelSource
from .test_time import TestTimeAugMixin, TTAEncoderDecoder
from .wsfcn import WSFCN

__all__ = [
    'AssignmentEMA', 'AuxSegNet', 'CAMClassifier', 'CoSA', 'CoSANet', 'LABEL_OUTPUT_KEYS', 'PseudoLabelSource',
    'TestTimeAugMixin', 'TTAEncoderDecoder', 'WSFCN'
]
