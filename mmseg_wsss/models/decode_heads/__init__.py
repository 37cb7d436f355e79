from .cam_head import CAMHead
from .cian_head import CIANHead, CIANWrapperHead
from .dual_affinity_head import DualAffinityHead
from .dual_cam_head import DualCAMHead
from .fca_head import FCAHead
from .fca_sf2_head import FCASF2Head
from .largefov_head import LargeFOVHead

__all__ = [
    'CAMHead', 'DualAffinityHead', 'FCAHead', 'FCASF2Head', 'LargeFOVHead',
    'CIANHead', 'CIANWrapperHead', 'DualCAMHead'
]
