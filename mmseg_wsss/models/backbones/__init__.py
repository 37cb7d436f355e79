from .efficientnet_lite import EfficientNetLite
from .wide_resnet38 import WideResNet38

__all__ = ['EfficientNetLite', 'WideResNet38']
