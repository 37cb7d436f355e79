from .auxsegnet import AuxSegNet
from .cam_classifier import CAMClassifier

__all__ = ['AuxSegNet', 'CAMClassifier']
