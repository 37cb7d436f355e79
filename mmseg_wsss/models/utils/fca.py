"""Context modules of SSSS and WS-FCN (wsfcn.md 2.2-2.3).

Both read the stride-8 backbone map (``conv6``) and return ``channels`` maps
of the same size: :class:`ASPPContext` is the SSSS baseline's ASPP,
:class:`FCA` WS-FCN's flexible context aggregation (strip-convolution
branches, channel attention, embedding and spatial recalibration).

Their BN layers keep their initial running statistics by default
(``freeze_bn_stats``, wsfcn.md 2.2 and 7.6): always in eval mode, they act
as learnable per-channel affine maps. ConvModules sit in containers
(``nn.Sequential`` / ``nn.ModuleList``) because mmengine applies a module's
``init_cfg`` before calling its direct children's ``init_weights``, and a
ConvModule's own init (kaiming fan-out) would replace the official
kaiming fan-in init.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmseg.models.decode_heads.aspp_head import ASPPModule
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

#: The official init of every conv of these modules and the fusions:
#: kaiming-normal weights (fan_in, gain sqrt(2)), zero biases.
KAIMING_FAN_IN = dict(
    type='Kaiming',
    layer='Conv2d',
    mode='fan_in',
    nonlinearity='relu',
    distribution='normal')


class StripConvBranch(nn.Module):
    """One MCLM branch (paper eq. 1).

    ``F^k = f^{1xk}(f^{kx1}(x)) + f^{kx1}(f^{1xk}(x))``: two paths of two
    bias-free strip convs, dilation ``d``, padding ``d (k - 1) / 2`` along
    the strip, no norm or activation.

    Args:
        in_channels (int): Input channels.
        channels (int): Channels of both convs of each path.
        kernel_size (int): Strip length ``k`` (odd).
        dilation (int): Dilation ``d``.
        conv_cfg (dict, optional): Conv layer config.
        unused_norm_cfg (dict, optional): Build this norm layer as
            ``self.norm`` without calling it (the official branch has one;
            it counts in the paper's parameter numbers, wsfcn.md P1).
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 kernel_size: int,
                 dilation: int,
                 conv_cfg: OptConfigType = None,
                 unused_norm_cfg: OptConfigType = None):
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        column = dict(
            kernel_size=(kernel_size, 1),
            padding=(pad, 0),
            dilation=dilation,
            bias=False)
        row = dict(
            kernel_size=(1, kernel_size),
            padding=(0, pad),
            dilation=dilation,
            bias=False)
        self.paths = nn.ModuleList([
            nn.Sequential(
                build_conv_layer(conv_cfg, in_channels, channels, **first),
                build_conv_layer(conv_cfg, channels, channels, **second))
            for first, second in ((column, row), (row, column))
        ])
        if unused_norm_cfg is not None:
            self.norm = build_norm_layer(unused_norm_cfg, channels)[1]

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        return self.paths[0](x) + self.paths[1](x)


class ChannelAttention(nn.Module):
    """Channel attention (paper eq. 2-3; the official two-layer MLP).

    ``x * sigmoid(MLP(GAP_s(x)) + MLP(GMP_s(x)))`` with
    ``MLP = conv1x1 -> ReLU -> conv1x1`` (bias-free, ratio 1).

    Args:
        channels (int): Channels of ``x``.
        conv_cfg (dict, optional): Conv layer config.
    """

    def __init__(self, channels: int, conv_cfg: OptConfigType = None):
        super().__init__()
        self.mlp = nn.Sequential(
            build_conv_layer(conv_cfg, channels, channels, 1, bias=False),
            nn.ReLU(),
            build_conv_layer(conv_cfg, channels, channels, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, C, h, w), ``x`` scaled per channel."""
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        peak = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(avg + peak)


class SpatialRecalibration(nn.Module):
    """Spatial recalibration module, SRM (paper eq. 5-6).

    ``M_s = sigmoid(conv3x3([mean_c(x); max_c(x)]))`` (bias-free conv,
    2 -> 1 channels) and the output ``M_s * x + x``.

    Args:
        conv_cfg (dict, optional): Conv layer config.
    """

    def __init__(self, conv_cfg: OptConfigType = None):
        super().__init__()
        self.conv = build_conv_layer(conv_cfg, 2, 1, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, C, h, w)."""
        pooled = torch.cat(
            [x.mean(dim=1, keepdim=True),
             x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled)) + x


class BaseContext(BaseModule):
    """The parts :class:`ASPPContext` and :class:`FCA` share.

    The image-pool branch ``Up(ConvModule(GAP(x)))`` (bilinear, to the input
    size) and BN layers frozen in eval mode when ``freeze_bn_stats``.
    """

    def __init__(self, in_channels: int, channels: int,
                 freeze_bn_stats: bool, conv_cfg: OptConfigType,
                 norm_cfg: OptConfigType, act_cfg: OptConfigType,
                 align_corners: bool, init_cfg: OptMultiConfig):
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.channels = channels
        self.freeze_bn_stats = freeze_bn_stats
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.align_corners = align_corners

    def _build_image_pool(self) -> nn.Sequential:
        return nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            ConvModule(
                self.in_channels,
                self.channels,
                1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg))

    def _pool_branch(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        return resize(
            self.image_pool(x),
            size=x.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)

    def train(self, mode: bool = True) -> 'BaseContext':
        """Set the mode; BN layers stay in eval mode if
        ``freeze_bn_stats``."""
        super().train(mode)
        if mode and self.freeze_bn_stats:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@MODELS.register_module()
class ASPPContext(BaseContext):
    """ASPP context module of SSSS (wsfcn.md 2.2).

    ConvModule branches (1x1 for dilation 1, else 3x3 with that dilation;
    :class:`~mmseg.models.decode_heads.aspp_head.ASPPModule`) and the
    image-pool branch, concatenated, then a 1x1 ConvModule and dropout.

    Args:
        in_channels (int): Input channels (``conv6``: 4096).
        channels (int): Channels of every branch and of the output.
        dilations (Sequence[int]): Branch dilations (1, 12, 24, 36 at
            output stride 8).
        dropout_ratio (float): Element-wise dropout on the output.
        freeze_bn_stats (bool): Keep every BN in eval mode.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config.
        act_cfg (dict, optional): Activation config.
        align_corners (bool): Of the image-pool upsampling.
        init_cfg (dict or list[dict], optional): Initialisation config.

    Shapes:
        x (B, in_channels, h, w) -> (B, channels, h, w).
    """

    def __init__(self,
                 in_channels: int = 4096,
                 channels: int = 256,
                 dilations: Sequence[int] = (1, 12, 24, 36),
                 dropout_ratio: float = 0.5,
                 freeze_bn_stats: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = True,
                 init_cfg: OptMultiConfig = KAIMING_FAN_IN):
        super().__init__(in_channels, channels, freeze_bn_stats, conv_cfg,
                         norm_cfg, act_cfg, align_corners, init_cfg)
        self.aspp_modules = ASPPModule(dilations, in_channels, channels,
                                       conv_cfg, norm_cfg, act_cfg)
        self.image_pool = self._build_image_pool()
        self.bottleneck = nn.Sequential(
            ConvModule(
                (len(dilations) + 1) * channels,
                channels,
                1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg), nn.Dropout(dropout_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        outs = self.aspp_modules(x) + [self._pool_branch(x)]
        return self.bottleneck(torch.cat(outs, dim=1))


@MODELS.register_module()
class FCA(BaseContext):
    """Flexible context aggregation of WS-FCN (wsfcn.md 2.3).

    Strip branches ``F^{k_i}`` (:class:`StripConvBranch`, eq. 1), each
    recalibrated by channel attention (:class:`ChannelAttention`, eq. 2-3),
    and the image-pool branch are concatenated; the embedding ``E``
    (ConvModule, eq. 4) gives ``F^com``, the SRM
    (:class:`SpatialRecalibration`, eq. 5-6) ``F^h``, followed by dropout.
    The defaults are the official code, which the paper's parameter counts
    match; ``with_image_pool=False, shared_ca=False, embed_kernel=3,
    embed_relu=True`` is the paper's description (wsfcn.md 2.3, 7.3; it
    gives no dilations), and ``with_srm=False`` the FCA_MCLM ablation
    (``F^h = F^com``).

    Args:
        in_channels (int): Input channels (``conv6``: 4096).
        channels (int): Channels of every branch and of the output.
        kernel_sizes (Sequence[int]): Strip length of each branch (odd).
        dilations (Sequence[int]): Dilation of each branch.
        with_image_pool (bool): Add the image-pool branch.
        shared_ca (bool): One channel attention for all strip branches
            (else one each).
        embed_kernel (int): Kernel size of the embedding conv (1 code,
            3 paper).
        embed_relu (bool): Activation after the embedding's norm (the
            code has none).
        with_srm (bool): Apply the SRM.
        dropout_ratio (float): Element-wise dropout on the output.
        freeze_bn_stats (bool): Keep every BN in eval mode.
        keep_unused_bn (bool): Build the official branches' never-called
            norm layers (4 x 512 parameters at 256 channels). They get no
            gradient: under DDP use ``find_unused_parameters=True`` or set
            this False.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config.
        act_cfg (dict, optional): Activation config (image pool,
            embedding).
        align_corners (bool): Of the image-pool upsampling.
        init_cfg (dict or list[dict], optional): Initialisation config.

    Shapes:
        x (B, in_channels, h, w) -> (B, channels, h, w).
    """

    def __init__(self,
                 in_channels: int = 4096,
                 channels: int = 256,
                 kernel_sizes: Sequence[int] = (1, 3, 5, 7),
                 dilations: Sequence[int] = (1, 12, 24, 36),
                 with_image_pool: bool = True,
                 shared_ca: bool = True,
                 embed_kernel: int = 1,
                 embed_relu: bool = False,
                 with_srm: bool = True,
                 dropout_ratio: float = 0.5,
                 freeze_bn_stats: bool = True,
                 keep_unused_bn: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = True,
                 init_cfg: OptMultiConfig = KAIMING_FAN_IN):
        super().__init__(in_channels, channels, freeze_bn_stats, conv_cfg,
                         norm_cfg, act_cfg, align_corners, init_cfg)
        if len(kernel_sizes) != len(dilations):
            raise ValueError(f'FCA: {len(kernel_sizes)} kernel sizes but '
                             f'{len(dilations)} dilations')
        if any(k % 2 == 0 for k in kernel_sizes) or embed_kernel % 2 == 0:
            raise ValueError('FCA: kernel sizes must be odd, got '
                             f'{tuple(kernel_sizes)} and {embed_kernel}')
        self.shared_ca = shared_ca
        unused_norm_cfg = norm_cfg if keep_unused_bn else None
        self.branches = nn.ModuleList([
            StripConvBranch(in_channels, channels, k, d, conv_cfg,
                            unused_norm_cfg)
            for k, d in zip(kernel_sizes, dilations)
        ])
        self.channel_attention = nn.ModuleList([
            ChannelAttention(channels, conv_cfg)
            for _ in range(1 if shared_ca else len(kernel_sizes))
        ])
        self.image_pool: Optional[nn.Sequential] = (
            self._build_image_pool() if with_image_pool else None)
        self.bottleneck = nn.Sequential(
            ConvModule(
                (len(kernel_sizes) + with_image_pool) * channels,
                channels,
                embed_kernel,
                padding=embed_kernel // 2,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg if embed_relu else None),
            SpatialRecalibration(conv_cfg) if with_srm else nn.Identity(),
            nn.Dropout(dropout_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        outs = []
        for i, branch in enumerate(self.branches):
            attention = self.channel_attention[0 if self.shared_ca else i]
            outs.append(attention(branch(x)))
        if self.image_pool is not None:
            outs.append(self._pool_branch(x))
        return self.bottleneck(torch.cat(outs, dim=1))
