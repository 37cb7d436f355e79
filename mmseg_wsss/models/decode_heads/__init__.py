from .cam_head import CAMHead
from .largefov_head import LargeFOVHead

__all__ = ['CAMHead', 'LargeFOVHead']
