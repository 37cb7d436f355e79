from typing import Tuple, Union

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
    CoSA's decoder (cosa.md §2.4) is ``dilation=5, fc7_kernel_size=3,
    conv_bias=False, fc_dropout_ratio=0., dropout_ratio=0.,
    conv_seg_bias=False`` (``norm_cfg=None``): two bias-free 3x3 convs of
    dilation 5 with ReLU, then a bias-free classifier.

    Args:
        dilation (int): Dilation of ``fc6`` (and of ``fc7`` when it is
            3x3). 12 at output stride 8 in the paper; scale it with the
            feature size.
        fc_dropout_ratio (float): Dropout after ``fc6``.
        conv_seg_bias (bool): Whether the classifier has a bias.
        fc7_kernel_size (int): Kernel size of ``fc7``, 1 or 3 (3: dilated
            like ``fc6``, same-size padding). Default: 1.
        conv_bias (bool | str): Whether ``fc6`` and ``fc7`` have a bias;
            ``'auto'`` (default, :class:`ConvModule`'s) means a bias unless
            there is a norm.
        torch_default_init (bool): Give ``fc6``, ``fc7`` and ``conv_seg``
            PyTorch's default init in :meth:`init_weights` instead of
            :class:`ConvModule`'s Kaiming and ``init_cfg``'s Normal(0.01)
            (CoSA's decoder: the code's init function is never called,
            cosa.md §2.4). Default: False.

    Raises:
        ValueError: ``fc7_kernel_size`` other than 1 or 3, or a
            ``torch_default_init`` that is not a bool.
    """

    def __init__(self,
                 dilation: int = 12,
                 fc_dropout_ratio: float = 0.5,
                 conv_seg_bias: bool = True,
                 fc7_kernel_size: int = 1,
                 conv_bias: Union[bool, str] = 'auto',
                 torch_default_init: bool = False,
                 **kwargs):
        kwargs.setdefault('dropout_ratio', 0.5)
        super().__init__(**kwargs)
        if fc7_kernel_size not in (1, 3):
            raise ValueError(
                f'fc7_kernel_size must be 1 or 3, got {fc7_kernel_size}')
        if not isinstance(torch_default_init, bool):
            raise ValueError('torch_default_init must be a bool, got '
                             f'{torch_default_init!r}')
        self.fc6 = ConvModule(
            self.in_channels,
            self.channels,
            kernel_size=3,
            padding=dilation,
            dilation=dilation,
            bias=conv_bias,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.fc6_dropout = nn.Dropout2d(fc_dropout_ratio) \
            if fc_dropout_ratio > 0 else nn.Identity()
        fc7_dilation = dilation if fc7_kernel_size == 3 else 1
        self.fc7 = ConvModule(
            self.channels,
            self.channels,
            kernel_size=fc7_kernel_size,
            padding=fc7_dilation * (fc7_kernel_size // 2),
            dilation=fc7_dilation,
            bias=conv_bias,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        if not conv_seg_bias:
            self.conv_seg = nn.Conv2d(
                self.channels, self.out_channels, kernel_size=1, bias=False)
        self.torch_default_init = torch_default_init

    def init_weights(self) -> None:
        """mmengine's init, then PyTorch's default for the convs when
        ``torch_default_init``."""
        super().init_weights()
        if self.torch_default_init:
            for conv in (self.fc6.conv, self.fc7.conv, self.conv_seg):
                conv.reset_parameters()

    def _forward_feature(self, inputs: Tuple[Tensor]) -> Tensor:
        """Features before the classifier, B x channels x h x w."""
        x = self._transform_inputs(inputs)
        return self.fc7(self.fc6_dropout(self.fc6(x)))

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """Segmentation logits, B x num_classes x h x w."""
        return self.cls_seg(self._forward_feature(inputs))
