"""FCA as a neck for stock mmseg configs (wsfcn.md 5, "Mixing")."""
from typing import Sequence, Tuple

from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptMultiConfig
from torch import Tensor

from ..utils.fca import FCA


@MODELS.register_module()
class FCANeck(BaseModule):
    """Replace one backbone output by :class:`~..utils.fca.FCA` of it.

    E.g. FCA instead of ASPP in a DeepLabV3: ``neck=dict(type='FCANeck',
    in_channels=2048, channels=256, in_index=3)`` and
    ``decode_head=dict(type='FCNHead', in_channels=256, in_index=3, ...)``.

    Args:
        in_channels (int): Channels of ``inputs[in_index]``.
        channels (int): Output channels of FCA.
        in_index (int): The backbone output to replace.
        init_cfg (dict or list[dict], optional): Initialisation config
            (FCA keeps its own).
        **kwargs: Further :class:`FCA` arguments (``dilations``, ...).

    Shapes:
        inputs[in_index] (B, in_channels, h, w) -> (B, channels, h, w);
        the other outputs pass through.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 channels: int = 256,
                 in_index: int = -1,
                 init_cfg: OptMultiConfig = None,
                 **kwargs):
        super().__init__(init_cfg)
        self.in_index = in_index
        self.fca = FCA(in_channels, channels, **kwargs)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """The backbone outputs with ``inputs[in_index]`` replaced."""
        outs = list(inputs)
        outs[self.in_index] = self.fca(inputs[self.in_index])
        return tuple(outs)
