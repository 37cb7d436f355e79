"""FCA as a decode head for stock mmseg configs (wsfcn.md 5, "Mixing")."""
from typing import Sequence, Tuple

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import Tensor

from ..utils.fca import FCA

#: FCA arguments the head sets from its own.
HEAD_ARGS = ('in_channels', 'channels', 'dilations', 'conv_cfg', 'norm_cfg',
             'act_cfg', 'align_corners')


@MODELS.register_module()
class FCAHead(BaseDecodeHead):
    """``cls_seg(FCA(x))``: a drop-in for mmseg's ``ASPPHead``.

    :class:`~..utils.fca.FCA` (wsfcn.md 2.3) gets the head's
    ``in_channels``, ``channels``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``
    and ``align_corners``; ``fca_cfg`` sets its other arguments. Mind two of
    FCA's defaults:

    - FCA ends with its own dropout (``fca_cfg['dropout_ratio']``, 0.5),
      applied before the head's ``dropout_ratio`` (0.1 in stock configs).
    - ``keep_unused_bn=True`` builds never-called BN layers (the official
      parameter count). They get no gradient, so distributed training then
      needs ``find_unused_parameters=True`` (a top-level config key); or set
      ``fca_cfg=dict(keep_unused_bn=False)``.

    Also, ``freeze_bn_stats=True`` keeps FCA's BN statistics at their
    initial values (the official code); stock heads update them.

    Args:
        dilations (Sequence[int]): Dilation of each strip branch, one per
            kernel size (``fca_cfg['kernel_sizes']``, 1 / 3 / 5 / 7).
            Default: ``(1, 12, 24, 36)`` (output stride 8).
        fca_cfg (dict, optional): Further :class:`FCA` arguments.
        **kwargs: :class:`BaseDecodeHead` arguments.

    Raises:
        ValueError: If ``fca_cfg`` sets an argument the head sets.

    Shapes:
        inputs[in_index] (B, in_channels, h, w) -> (B, num_classes, h, w).
    """

    def __init__(self,
                 dilations: Sequence[int] = (1, 12, 24, 36),
                 fca_cfg: OptConfigType = None,
                 **kwargs):
        super().__init__(**kwargs)
        fca_cfg = dict(fca_cfg or {})
        clash = sorted(set(fca_cfg) & set(HEAD_ARGS))
        if clash:
            raise ValueError(f'FCAHead: set {clash} as head arguments, not '
                             'in fca_cfg')
        self.fca = FCA(
            self.in_channels,
            self.channels,
            dilations=dilations,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
            align_corners=self.align_corners,
            **fca_cfg)

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """Segmentation logits, (B, num_classes, h, w)."""
        return self.cls_seg(self.fca(self._transform_inputs(inputs)))
