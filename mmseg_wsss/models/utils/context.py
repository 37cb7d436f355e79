"""Replacements of the context module (wsfcn.md 4, Table II).

Drop-ins for :class:`~.fca.ASPPContext` / :class:`~.fca.FCA` (same
arguments, same output) that aggregate context with a non-local block, one
large-kernel conv or PSPNet's pyramid pooling. Each ends with the same
dropout as ASPP and keeps its BN statistics frozen by default, so that a
Table II row changes only the aggregation.
"""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, NonLocal2d
from mmseg.models.decode_heads.psp_head import PPM
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from .fca import KAIMING_FAN_IN, BaseContext


@MODELS.register_module()
class NonLocalContext(BaseContext):
    """A 1x1 ConvModule to ``channels``, mmcv's non-local block, dropout.

    The non-local block (:class:`mmcv.cnn.NonLocal2d`, as in mmseg's
    ``NLHead``) keeps mmcv's own init after ``init_weights``: its output
    norm starts at zero, so the block starts as the identity and its
    ``g`` / ``theta`` / ``phi`` convs get gradients once that norm has
    moved.

    Args:
        in_channels (int): Input channels.
        channels (int): Channels of the block and of the output.
        reduction (int): Channel reduction inside the non-local block.
        use_scale (bool): Scale the pairwise products by
            ``1 / sqrt(channels // reduction)``.
        mode (str): Pairwise function of the non-local block.
        dropout_ratio (float): Element-wise dropout on the output.
        freeze_bn_stats (bool): Keep every BN in eval mode.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config.
        act_cfg (dict, optional): Activation config of the reduction.
        align_corners (bool): Unused (the common context signature).
        init_cfg (dict or list[dict], optional): Initialisation config.

    Shapes:
        x (B, in_channels, h, w) -> (B, channels, h, w).
    """

    def __init__(self,
                 in_channels: int = 4096,
                 channels: int = 256,
                 reduction: int = 2,
                 use_scale: bool = True,
                 mode: str = 'embedded_gaussian',
                 dropout_ratio: float = 0.5,
                 freeze_bn_stats: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = True,
                 init_cfg: OptMultiConfig = KAIMING_FAN_IN):
        super().__init__(in_channels, channels, freeze_bn_stats, conv_cfg,
                         norm_cfg, act_cfg, align_corners, init_cfg)
        self.reduce_conv = nn.Sequential(
            ConvModule(
                in_channels,
                channels,
                1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg))
        self.nl_block = NonLocal2d(
            channels,
            reduction=reduction,
            use_scale=use_scale,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            mode=mode)
        self.dropout = nn.Dropout(dropout_ratio)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        return self.dropout(self.nl_block(self.reduce_conv(x)))


@MODELS.register_module()
class LargeKernelContext(BaseContext):
    """One large-kernel ConvModule ("same" padding), then dropout.

    Args:
        in_channels (int): Input channels.
        channels (int): Output channels.
        kernel_size (int): Kernel size (odd; Table II: 7).
        dropout_ratio (float): Element-wise dropout on the output.
        freeze_bn_stats (bool): Keep every BN in eval mode.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config.
        act_cfg (dict, optional): Activation config.
        align_corners (bool): Unused (the common context signature).
        init_cfg (dict or list[dict], optional): Initialisation config.

    Raises:
        ValueError: If ``kernel_size`` is even.

    Shapes:
        x (B, in_channels, h, w) -> (B, channels, h, w).
    """

    def __init__(self,
                 in_channels: int = 4096,
                 channels: int = 256,
                 kernel_size: int = 7,
                 dropout_ratio: float = 0.5,
                 freeze_bn_stats: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = True,
                 init_cfg: OptMultiConfig = KAIMING_FAN_IN):
        super().__init__(in_channels, channels, freeze_bn_stats, conv_cfg,
                         norm_cfg, act_cfg, align_corners, init_cfg)
        if kernel_size % 2 == 0:
            raise ValueError('LargeKernelContext: kernel_size must be odd, '
                             f'got {kernel_size}')
        self.conv = nn.Sequential(
            ConvModule(
                in_channels,
                channels,
                kernel_size,
                padding=kernel_size // 2,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg), nn.Dropout(dropout_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        return self.conv(x)


@MODELS.register_module()
class PPMContext(BaseContext):
    """PSPNet's pyramid pooling, as in mmseg's ``PSPHead``, then dropout.

    mmseg's :class:`~mmseg.models.decode_heads.psp_head.PPM` branches
    (adaptive average pooling, 1x1 ConvModule, bilinear upsampling) are
    concatenated with the input and fused by a 3x3 ConvModule.

    Args:
        in_channels (int): Input channels.
        channels (int): Channels of every branch and of the output.
        pool_scales (Sequence[int]): Output sizes of the poolings.
        dropout_ratio (float): Element-wise dropout on the output.
        freeze_bn_stats (bool): Keep every BN in eval mode (the 1x1 pooled
            branch then also trains with one image per device).
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config.
        act_cfg (dict, optional): Activation config.
        align_corners (bool): Of the branches' upsampling.
        init_cfg (dict or list[dict], optional): Initialisation config.

    Shapes:
        x (B, in_channels, h, w) -> (B, channels, h, w).
    """

    def __init__(self,
                 in_channels: int = 4096,
                 channels: int = 256,
                 pool_scales: Sequence[int] = (1, 2, 3, 6),
                 dropout_ratio: float = 0.5,
                 freeze_bn_stats: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = True,
                 init_cfg: OptMultiConfig = KAIMING_FAN_IN):
        super().__init__(in_channels, channels, freeze_bn_stats, conv_cfg,
                         norm_cfg, act_cfg, align_corners, init_cfg)
        self.psp_modules = PPM(pool_scales, in_channels, channels, conv_cfg,
                               norm_cfg, act_cfg, align_corners)
        self.bottleneck = nn.Sequential(
            ConvModule(
                in_channels + len(pool_scales) * channels,
                channels,
                3,
                padding=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg), nn.Dropout(dropout_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        return self.bottleneck(torch.cat([x] + self.psp_modules(x), dim=1))
