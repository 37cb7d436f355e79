from .fca_neck import FCANeck
from .sf2_neck import SF2Neck

__all__ = ['FCANeck', 'SF2Neck']
