from typing import Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class LargeFOVHead(BaseDecodeHead):
    """DeepLab-v2 LargeFOV head (Chen et al., 2016).

    A dilated 3x3 conv (``fc6``) and a 1x1 conv (``fc7``), each followed by
    ReLU and dropout, then the 1x1 classifier ``conv_seg``. The dropout
    after ``fc7`` is :class:`BaseDecodeHead`'s (``dropout_ratio``).

    Args:
        dilation (int): Dilation of ``fc6``. 12 at output stride 8 in the
            paper; scale it with the feature size.
        fc_dropout_ratio (float): Dropout after ``fc6``.
        conv_seg_bias (bool): Whether the classifier has a bias.
    """

    def __init__(self,
                 dilation: int = 12,
                 fc_dropout_ratio: float = 0.5,
                 conv_seg_bias: bool = True,
                 **kwargs):
        kwargs.setdefault('dropout_ratio', 0.5)
        super().__init__(**kwargs)
        self.fc6 = ConvModule(
            self.in_channels,
            self.channels,
            kernel_size=3,
            padding=dilation,
            dilation=dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.fc6_dropout = nn.Dropout2d(fc_dropout_ratio) \
            if fc_dropout_ratio > 0 else nn.Identity()
        self.fc7 = ConvModule(
            self.channels,
            self.channels,
            kernel_size=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        if not conv_seg_bias:
            self.conv_seg = nn.Conv2d(
                self.channels, self.out_channels, kernel_size=1, bias=False)

    def _forward_feature(self, inputs: Tuple[Tensor]) -> Tensor:
        """Features before the classifier, B x channels x h x w."""
        x = self._transform_inputs(inputs)
        return self.fc7(self.fc6_dropout(self.fc6(x)))

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """Segmentation logits, B x num_classes x h x w."""
        return self.cls_seg(self._forward_feature(inputs))
