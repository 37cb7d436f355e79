"""Fusion modules of SSSS and WS-FCN (wsfcn.md 2.4-2.5).

Each fuses the stride-4 backbone map ``low`` (``conv3``, ``F^l``) with the
context module's stride-8 output ``high`` (``F^h``) into a deep and a
shallow stream at the size of ``low``, the two inputs of the stochastic
gate: :class:`SkipGCIFusion` is the SSSS baseline (skip connection and
global cue injection), :class:`SF2Fusion` WS-FCN's semantically consistent
feature fusion, with :class:`SemanticAlignUpsample` bringing ``high`` to
the size of ``low``. ``SF2Fusion(align=False, fuse_mode=...)`` gives the
naive fusions of the paper's Table II.

As in :mod:`.fca`, ConvModules sit in containers so that ``init_cfg``
(kaiming fan-in, zero biases) is not overwritten by their own init.
"""
import warnings
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from .cross_task_affinity import TORCH_DEFAULT_INIT
from .fca import KAIMING_FAN_IN

#: ``SF2Fusion.fuse_mode``: SF2's product and Table II's naive fusions.
FUSE_MODES = ('mul', 'sum', 'concat')


def offset_upsample(x: Tensor, offset: Tensor) -> Tensor:
    """Bilinear upsampling with per-pixel sampling offsets (eq. 12).

    Samples ``x`` at the positions of bilinear upsampling with
    ``align_corners=True`` to the size of ``offset``, each shifted by
    ``(offset[:, 0] / w_o, offset[:, 1] / h_o)`` in normalised (x, y)
    coordinates (wsfcn.md 2.5a): with ``offset = 0`` this is
    ``F.interpolate(x, (h_o, w_o), mode='bilinear', align_corners=True)``,
    and ``offset[:, 0] = 2 k w_o / (w_o - 1)`` moves the content ``k``
    output pixels to the left. Outside ``x`` reads zeros.

    Args:
        x (Tensor): (B, C, h, w).
        offset (Tensor): (B, 2, h_o, w_o), channel 0 horizontal.

    Returns:
        Tensor: (B, C, h_o, w_o).
    """
    batch, _, h_o, w_o = offset.shape
    identity = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    grid = F.affine_grid(
        identity.expand(batch, 2, 3), (batch, 1, h_o, w_o),
        align_corners=True)
    grid = grid + offset.permute(0, 2, 3, 1) / offset.new_tensor([w_o, h_o])
    return F.grid_sample(
        x, grid, mode='bilinear', padding_mode='zeros', align_corners=True)


@MODELS.register_module()
class SemanticAlignUpsample(BaseModule):
    """Semantically aligned upsampling ``gamma`` (wsfcn.md 2.5a, eq. 9-12).

    ``a = Up(reduce_high(F^h))`` (bilinear, ``align_corners=False``) and
    ``b = reduce_low(F^l)`` (bias-free 1x1 convs), offsets
    ``Delta = offset_conv([a; b])`` (bias-free 3x3, 2 channels) and the
    output :func:`offset_upsample` ``(F^h, Delta)``.

    Args:
        low_channels (int): Channels of ``low``.
        high_channels (int): Channels of ``high`` (and of the output).
        channels (int): Channels of ``a`` and ``b``.
        conv_cfg (dict, optional): Conv layer config.
        init_cfg (dict or list[dict], optional): Initialisation config;
            PyTorch's default conv init, as in the official code.

    Shapes:
        low (B, low_channels, H, W), high (B, high_channels, h, w)
        -> (B, high_channels, H, W).
    """

    def __init__(self,
                 low_channels: int = 256,
                 high_channels: int = 256,
                 channels: int = 128,
                 conv_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = TORCH_DEFAULT_INIT):
        super().__init__(init_cfg)
        self.reduce_high = build_conv_layer(
            conv_cfg, high_channels, channels, 1, bias=False)
        self.reduce_low = build_conv_layer(
            conv_cfg, low_channels, channels, 1, bias=False)
        self.offset_conv = build_conv_layer(
            conv_cfg, 2 * channels, 2, 3, padding=1, bias=False)

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        """``high`` resampled to the size of ``low``."""
        reduced = resize(
            self.reduce_high(high),
            size=low.shape[2:],
            mode='bilinear',
            align_corners=False)
        offset = self.offset_conv(
            torch.cat([reduced, self.reduce_low(low)], dim=1))
        return offset_upsample(high, offset)


@MODELS.register_module()
class SF2Fusion(BaseModule):
    """Semantically consistent feature fusion, SF2 (wsfcn.md 2.5b, eq. 7-8).

    ``high`` is brought to the size of ``low`` by
    :class:`SemanticAlignUpsample` (``align``) or bilinear upsampling
    (``align_corners``). Per stream ``s`` (``streams['low']`` reads ``low``,
    ``streams['high']`` the upsampled ``high``), four 3x3 ConvModules
    ``E_1..E_4`` (conv with bias, norm, act):
    ``s1 = E_1(input)``, ``f = fuse(E_2^l(l1), E_2^h(h1))``,
    ``s' = E_4(E_3(f) + s1)``. ``fuse`` is the product (SF2), the sum or
    the channel concatenation (Table II's naive fusions, with
    ``align=False``; their parameter counts match this structure).

    Args:
        low_channels (int): Channels of ``low`` (``conv3``: 256).
        high_channels (int): Channels of ``high``.
        channels (int): Channels of every ``E`` and of the outputs.
        align (bool): Use semantically aligned upsampling.
        align_channels (int): Reduced channels inside the alignment.
        fuse_mode (str): One of :data:`FUSE_MODES`.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config.
        act_cfg (dict, optional): Activation config.
        align_corners (bool): Of the bilinear upsampling without
            ``align`` (True: the aligned upsampling with zero offsets).
        init_cfg (dict or list[dict], optional): Initialisation config
            (the alignment keeps its own).

    Shapes:
        low (B, low_channels, H, W), high (B, high_channels, h, w)
        -> deep ``F^h'`` and shallow ``F^l'``, each (B, channels, H, W).
    """

    def __init__(self,
                 low_channels: int = 256,
                 high_channels: int = 256,
                 channels: int = 256,
                 align: bool = True,
                 align_channels: int = 128,
                 fuse_mode: str = 'mul',
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = True,
                 init_cfg: OptMultiConfig = KAIMING_FAN_IN):
        super().__init__(init_cfg)
        if fuse_mode not in FUSE_MODES:
            raise ValueError(f'fuse_mode must be one of {FUSE_MODES}, got '
                             f'{fuse_mode!r}')
        self.fuse_mode = fuse_mode
        self.align_corners = align_corners
        self.upsample = SemanticAlignUpsample(
            low_channels, high_channels, align_channels,
            conv_cfg) if align else None
        fused = 2 * channels if fuse_mode == 'concat' else channels

        def embed(in_channels: int) -> ConvModule:
            # the official conv bias before the norm: redundant, but it
            # counts in the paper's parameter numbers (wsfcn.md P1)
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    'ignore', 'Unnecessary conv bias', UserWarning)
                return ConvModule(
                    in_channels,
                    channels,
                    3,
                    padding=1,
                    bias=True,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg)

        self.streams = nn.ModuleDict({
            name: nn.ModuleList([
                embed(in_channels),
                embed(channels),
                embed(fused),
                embed(channels)
            ])
            for name, in_channels in (('low', low_channels),
                                      ('high', high_channels))
        })

    def _fuse(self, low: Tensor, high: Tensor) -> Tensor:
        if self.fuse_mode == 'mul':
            return low * high
        if self.fuse_mode == 'sum':
            return low + high
        return torch.cat([low, high], dim=1)

    def forward(self, low: Tensor, high: Tensor) -> Tuple[Tensor, Tensor]:
        """Deep ``F^h'`` and shallow ``F^l'`` streams at the size of
        ``low``."""
        if self.upsample is not None:
            high = self.upsample(low, high)
        else:
            high = resize(
                high,
                size=low.shape[2:],
                mode='bilinear',
                align_corners=self.align_corners)
        first = dict(
            low=self.streams['low'][0](low),
            high=self.streams['high'][0](high))
        fused = self._fuse(*(self.streams[name][1](first[name])
                             for name in ('low', 'high')))
        deep, shallow = (
            self.streams[name][3](self.streams[name][2](fused) + first[name])
            for name in ('high', 'low'))
        return deep, shallow


@MODELS.register_module()
class SkipGCIFusion(BaseModule):
    """Skip connection and global cue injection of SSSS (wsfcn.md 2.4).

    Deep stream ``x_d = deep['fuse']([Up(high); deep['skip'](low)])``
    (bilinear upsampling). Global cue injection: ``a = max_space
    gci['attrs'](x_d)`` split into ``gamma`` and ``beta`` (``channels``
    each); ``u = gci['shallow'](low)`` (1x1 conv, non-affine norm);
    shallow stream ``x_s = gci['out'](ReLU(u * (gamma + 1) + beta))``.

    Args:
        low_channels (int): Channels of ``low`` (``conv3``: 256).
        high_channels (int): Channels of ``high``.
        channels (int): Channels of both outputs.
        skip_channels (int): Channels of the skip connection.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config.
        act_cfg (dict, optional): Activation config.
        align_corners (bool): Of the upsampling of ``high``.
        init_cfg (dict or list[dict], optional): Initialisation config.

    Shapes:
        low (B, low_channels, H, W), high (B, high_channels, h, w)
        -> deep and shallow stream, each (B, channels, H, W).
    """

    def __init__(self,
                 low_channels: int = 256,
                 high_channels: int = 256,
                 channels: int = 256,
                 skip_channels: int = 48,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = True,
                 init_cfg: OptMultiConfig = KAIMING_FAN_IN):
        super().__init__(init_cfg)
        self.align_corners = align_corners
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.deep = nn.ModuleDict(
            dict(
                skip=ConvModule(low_channels, skip_channels, 1, **common),
                fuse=ConvModule(
                    high_channels + skip_channels,
                    channels,
                    3,
                    padding=1,
                    **common)))
        self.gci = nn.ModuleDict(
            dict(
                attrs=ConvModule(channels, 2 * channels, 1, **common),
                shallow=ConvModule(
                    low_channels,
                    channels,
                    1,
                    conv_cfg=conv_cfg,
                    norm_cfg=None
                    if norm_cfg is None else dict(norm_cfg, affine=False),
                    act_cfg=None),
                out=ConvModule(channels, channels, 1, **common)))

    def forward(self, low: Tensor, high: Tensor) -> Tuple[Tensor, Tensor]:
        """Deep and shallow streams at the size of ``low``."""
        high = resize(
            high,
            size=low.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        deep = self.deep['fuse'](
            torch.cat([high, self.deep['skip'](low)], dim=1))
        gamma, beta = self.gci['attrs'](deep).amax(dim=(2, 3)).chunk(2, dim=1)
        shallow = self.gci['shallow'](low) * (gamma[..., None, None] + 1)
        shallow = self.gci['out'](F.relu(shallow + beta[..., None, None]))
        return deep, shallow
