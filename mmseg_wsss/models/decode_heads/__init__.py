from .cam_head import CAMHead
from .cian_head import CIANHead, CIANWrapperHead
from .dual_affinity_head import DualAffinityHead
from .dual_cam_head import DualCAMHead
from .fca_head import FCAHead
from .fca_sf2_head import FCASF2Head
from .largefov_head import LargeFOVHead
from .pixel_weighted_head import PixelWeightedHeadMixin, PWASPPHead, PWFCNHead

__all__ = [
    'CAMHead', 'DualAffinityHead', 'FCAHead', 'FCASF2Head', 'LargeFOVHead',
    'CIANHead', 'CIANWrapperHead', 'DualCAMHead', 'PixelWeightedHeadMixin',
    'PWASPPHead', 'PWFCNHead'
]
