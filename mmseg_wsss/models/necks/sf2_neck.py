"""SF2 as a neck for stock mmseg configs (wsfcn.md 5, "Mixing")."""
from typing import Sequence, Tuple

from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptMultiConfig
from torch import Tensor

from ..utils.sf2 import SF2Fusion


@MODELS.register_module()
class SF2Neck(BaseModule):
    """Fuse a low and a high backbone level with :class:`SF2Fusion`.

    The aligned upsampling brings ``inputs[high_index]`` to the size of
    ``inputs[low_index]``; the deep and shallow streams are summed (a stock
    head has no stochastic gate) and replace ``inputs[low_index]``. E.g. on
    ``ResNetV1c``: ``neck=dict(type='SF2Neck', low_index=0, high_index=3,
    low_channels=256, high_channels=2048, channels=256)`` and a decode head
    with ``in_channels=256, in_index=0``.

    Args:
        low_index (int): The /4 level (``F^l``); replaced by the output.
        high_index (int): The deep level (``F^h``).
        low_channels (int): Channels of ``inputs[low_index]``.
        high_channels (int): Channels of ``inputs[high_index]``.
        channels (int): Output channels.
        init_cfg (dict or list[dict], optional): Initialisation config
            (SF2Fusion keeps its own).
        **kwargs: Further :class:`SF2Fusion` arguments.

    Shapes:
        inputs[low_index] (B, low_channels, H, W),
        inputs[high_index] (B, high_channels, h, w)
        -> outputs[low_index] (B, channels, H, W); the others pass through.
    """

    def __init__(self,
                 low_index: int = 0,
                 high_index: int = -1,
                 low_channels: int = 256,
                 high_channels: int = 2048,
                 channels: int = 256,
                 init_cfg: OptMultiConfig = None,
                 **kwargs):
        super().__init__(init_cfg)
        self.low_index = low_index
        self.high_index = high_index
        self.sf2 = SF2Fusion(low_channels, high_channels, channels, **kwargs)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """The backbone outputs with ``inputs[low_index]`` replaced by the
        sum of the fused streams."""
        deep, shallow = self.sf2(inputs[self.low_index],
                                 inputs[self.high_index])
        outs = list(inputs)
        outs[self.low_index] = deep + shallow
        return tuple(outs)
