from .cam_head import CAMHead
from .dual_affinity_head import DualAffinityHead
from .fca_head import FCAHead
from .largefov_head import LargeFOVHead

__all__ = ['CAMHead', 'DualAffinityHead', 'FCAHead', 'LargeFOVHead']
