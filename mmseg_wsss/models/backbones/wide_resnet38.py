"""WideResNet-38 ("ResNet38d", model A1 of Wu et al.) at output stride 8."""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig
from torch.nn.modules.batchnorm import _BatchNorm


class ResBlock(nn.Module):
    """Pre-activation basic block with PSA's attribute names.

    t = ReLU(bn_branch2a(x)); out = shortcut + conv_branch2b1(ReLU(
    bn_branch2b1(conv_branch2a(t)))), shortcut = ``conv_branch1(t)`` (1x1,
    stride) when the shape changes, else x. All convs bias-free.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Channels after the first 3x3 conv.
        out_channels (int): Output channels.
        stride (int): Stride of the first 3x3 conv and the shortcut.
        first_dilation (int): Dilation of the first 3x3 conv.
        dilation (int): Dilation of the second 3x3 conv.
        norm_cfg (dict): Norm layer config.
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 first_dilation: int = 1,
                 dilation: int = 1,
                 norm_cfg: ConfigType = dict(type='BN')):
        super().__init__()
        self.same_shape = in_channels == out_channels and stride == 1
        self.bn_branch2a = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv_branch2a = nn.Conv2d(
            in_channels,
            mid_channels,
            3,
            stride,
            padding=first_dilation,
            dilation=first_dilation,
            bias=False)
        self.bn_branch2b1 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv_branch2b1 = nn.Conv2d(
            mid_channels,
            out_channels,
            3,
            padding=dilation,
            dilation=dilation,
            bias=False)
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(
                in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns the block output (N, C_out, H/s, W/s) and the
        pre-activation ReLU(bn_branch2a(x)) (N, C_in, H, W)."""
        act = F.relu(self.bn_branch2a(x))
        shortcut = x if self.same_shape else self.conv_branch1(act)
        out = F.relu(self.bn_branch2b1(self.conv_branch2a(act)))
        return shortcut + self.conv_branch2b1(out), act


class ResBlockBot(nn.Module):
    """Pre-activation bottleneck block with PSA's attribute names.

    t = ReLU(bn_branch2a(x)); main = 1x1 (C_out/4) → BN-ReLU-Dropout2d →
    3x3 dilated (C_out/2) → BN-ReLU-Dropout2d → 1x1 (C_out); out =
    conv_branch1(t) + main. All convs bias-free, stride 1.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        dilation (int): Dilation of the 3x3 conv.
        dropout (float): Dropout2d probability.
        norm_cfg (dict): Norm layer config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 dilation: int = 1,
                 dropout: float = 0.,
                 norm_cfg: ConfigType = dict(type='BN')):
        super().__init__()
        self.bn_branch2a = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv_branch2a = nn.Conv2d(
            in_channels, out_channels // 4, 1, bias=False)
        self.bn_branch2b1 = build_norm_layer(norm_cfg, out_channels // 4)[1]
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = nn.Conv2d(
            out_channels // 4,
            out_channels // 2,
            3,
            padding=dilation,
            dilation=dilation,
            bias=False)
        self.bn_branch2b2 = build_norm_layer(norm_cfg, out_channels // 2)[1]
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(
            out_channels // 2, out_channels, 1, bias=False)
        self.conv_branch1 = nn.Conv2d(
            in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns the block output (N, C_out, H, W) and the pre-activation
        ReLU(bn_branch2a(x)) (N, C_in, H, W)."""
        act = F.relu(self.bn_branch2a(x))
        out = self.conv_branch2a(act)
        out = self.dropout_2b1(F.relu(self.bn_branch2b1(out)))
        out = self.conv_branch2b1(out)
        out = self.dropout_2b2(F.relu(self.bn_branch2b2(out)))
        return self.conv_branch1(act) + self.conv_branch2b2(out), act


@MODELS.register_module()
class WideResNet38(BaseModule):
    """WideResNet-38 backbone of PSA / SSSS / WS-FCN / AuxSegNet.

    The pre-activation ResNet-38 (model A1) of `Wider or Deeper: Revisiting
    the ResNet Model for Visual Recognition
    <https://arxiv.org/abs/1611.10080>`_, output stride 8. Attribute names
    follow PSA's ``network/resnet38d.py`` (``conv1a``, ``b2`` .. ``b7``,
    ``bn7``; ``bn_branch2a``, ``conv_branch2a``, ``bn_branch2b1``,
    ``conv_branch2b1``, ``bn_branch2b2``, ``conv_branch2b2``,
    ``conv_branch1``) so the converted ImageNet weights
    (``ilsvrc-cls_rna-a1_cls1000_ep-0001.pth``) load with
    ``init_cfg=dict(type='Pretrained', checkpoint=...)``; its classifier
    keys are then reported as unexpected and ignored. Input: RGB normalised
    with the ImageNet mean/std (x 255).

    Outputs selectable by ``out_indices``:

    - 0 ``conv2``: output of ``b2_2`` (128 ch, stride 2)
    - 1 ``conv3``: output of ``b3_2`` (256 ch, stride 4), no BN/ReLU
    - 2 ``conv4``: ReLU(``b5.bn_branch2a``(``b4_5`` output)) (512, stride 8)
    - 3 ``conv5``: ReLU(``b6.bn_branch2a``(``b5_2`` output)) (1024, stride 8)
    - 4 ``conv6``: ReLU(``bn7``(``b7`` output)) (4096, stride 8)

    Frozen stages: 0 = ``conv1a``, 1 = ``b2*``, 2 = ``b3*``, 3 = ``b4*``,
    4 = ``b5*``, 5 = ``b6``, 6 = ``b7`` and ``bn7``.

    Args:
        out_indices (Sequence[int]): Outputs to return (0..4).
            Default: (1, 4) → (conv3, conv6).
        frozen_stages (int): Stages ``0..frozen_stages`` are frozen (eval
            mode, ``requires_grad=False``); -1 freezes nothing. Default: 1
            (``conv1a`` and ``b2*``, as SSSS/WS-FCN; PSA/AuxSegNet use 0).
        norm_eval (bool): Keep every BN in eval mode (running statistics
            fixed) during training. Default: True.
        frozen_bn_params (bool): Freeze the affine parameters of every BN.
            Default: True.
        dropout_ratios (Sequence[float]): Dropout2d probabilities inside
            ``b6`` and ``b7``. Default: (0.3, 0.5).
        norm_cfg (dict): Norm layer config. Default: ``dict(type='BN')``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Default: None.
    """

    out_names = ('conv2', 'conv3', 'conv4', 'conv5', 'conv6')
    out_channels = (128, 256, 512, 1024, 4096)
    stage_names = (('conv1a', ), ('b2', 'b2_1', 'b2_2'),
                   ('b3', 'b3_1', 'b3_2'),
                   ('b4', 'b4_1', 'b4_2', 'b4_3', 'b4_4', 'b4_5'),
                   ('b5', 'b5_1', 'b5_2'), ('b6', ), ('b7', 'bn7'))

    def __init__(self,
                 out_indices: Sequence[int] = (1, 4),
                 frozen_stages: int = 1,
                 norm_eval: bool = True,
                 frozen_bn_params: bool = True,
                 dropout_ratios: Sequence[float] = (0.3, 0.5),
                 norm_cfg: ConfigType = dict(type='BN'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(len(self.out_names))
                                  for i in out_indices):
            raise ValueError(f'WideResNet38: out_indices {out_indices} must '
                             f'be a non-empty subset of 0..4 '
                             f'{self.out_names}')
        if frozen_stages not in range(-1, len(self.stage_names)):
            raise ValueError(f'WideResNet38: frozen_stages {frozen_stages} '
                             f'must be in -1..{len(self.stage_names) - 1}')
        if len(dropout_ratios) != 2:
            raise ValueError(f'WideResNet38: dropout_ratios '
                             f'{dropout_ratios} must give two values (b6, '
                             f'b7)')
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.frozen_bn_params = frozen_bn_params

        self.conv1a = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.b2 = ResBlock(64, 128, 128, stride=2, norm_cfg=norm_cfg)
        self.b2_1 = ResBlock(128, 128, 128, norm_cfg=norm_cfg)
        self.b2_2 = ResBlock(128, 128, 128, norm_cfg=norm_cfg)
        self.b3 = ResBlock(128, 256, 256, stride=2, norm_cfg=norm_cfg)
        self.b3_1 = ResBlock(256, 256, 256, norm_cfg=norm_cfg)
        self.b3_2 = ResBlock(256, 256, 256, norm_cfg=norm_cfg)
        self.b4 = ResBlock(256, 512, 512, stride=2, norm_cfg=norm_cfg)
        for i in range(1, 6):
            setattr(self, f'b4_{i}', ResBlock(
                512, 512, 512, norm_cfg=norm_cfg))
        self.b5 = ResBlock(
            512, 512, 1024, first_dilation=1, dilation=2, norm_cfg=norm_cfg)
        self.b5_1 = ResBlock(
            1024, 512, 1024, first_dilation=2, dilation=2, norm_cfg=norm_cfg)
        self.b5_2 = ResBlock(
            1024, 512, 1024, first_dilation=2, dilation=2, norm_cfg=norm_cfg)
        self.b6 = ResBlockBot(
            1024, 2048, dilation=4, dropout=dropout_ratios[0],
            norm_cfg=norm_cfg)
        self.b7 = ResBlockBot(
            2048, 4096, dilation=4, dropout=dropout_ratios[1],
            norm_cfg=norm_cfg)
        self.bn7 = build_norm_layer(norm_cfg, 4096)[1]
        self._freeze()

    def forward_as_dict(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(N, 3, H, W) → dict of all five outputs (see class doc)."""
        x = self.conv1a(x)
        for name in self.stage_names[1]:
            x = getattr(self, name)(x)[0]
        conv2 = x
        for name in self.stage_names[2]:
            x = getattr(self, name)(x)[0]
        conv3 = x
        for name in self.stage_names[3]:
            x = getattr(self, name)(x)[0]
        x, conv4 = self.b5(x)
        x = self.b5_2(self.b5_1(x)[0])[0]
        x, conv5 = self.b6(x)
        x = self.b7(x)[0]
        conv6 = F.relu(self.bn7(x))
        return dict(
            conv2=conv2, conv3=conv3, conv4=conv4, conv5=conv5, conv6=conv6)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(N, 3, H, W) → the outputs selected by ``out_indices``."""
        outs = self.forward_as_dict(x)
        return tuple(outs[self.out_names[i]] for i in self.out_indices)

    def _freeze(self) -> None:
        """Freeze stages ``0..frozen_stages`` and, if asked, BN params."""
        for stage in self.stage_names[:self.frozen_stages + 1]:
            for name in stage:
                module = getattr(self, name)
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False
        if self.frozen_bn_params:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    for param in m.parameters():
                        param.requires_grad = False

    def train(self, mode: bool = True) -> 'WideResNet38':
        """Set train mode, keeping frozen stages (and BN if
        ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
