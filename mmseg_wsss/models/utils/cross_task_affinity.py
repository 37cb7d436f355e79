"""Cross-task affinity of AuxSegNet / AuxSegNet+ (auxsegnet_plus.md 2.4-2.7).

Two tasks (segmentation ``seg`` and saliency ``sal``) each learn a pairwise
affinity ``A_t`` (and, for AuxSegNet+, a unary affinity ``u_t``), enhance
their own features with them, and a small self-attention module fuses the
two into the cross-task affinities ``A_ct`` and ``u_ct`` that refine the
predictions and the CAMs.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import OptMultiConfig
from torch import Tensor

from .affinity import PairwiseAffinity, UnaryAffinity, unary_context

AFFINITY_MODES = ('pairwise', 'dual')
#: PyTorch's default ``Conv2d`` weight init (kaiming-uniform, a = sqrt(5)),
#: which the official code leaves the affinity convs at; biases become 0.
TORCH_DEFAULT_INIT = dict(
    type='Kaiming',
    layer='Conv2d',
    a=math.sqrt(5),
    mode='fan_in',
    nonlinearity='leaky_relu',
    distribution='uniform')


@MODELS.register_module()
class AffinityFusion(nn.Module):
    """Two-weight self-attention fusion of two same-shaped maps.

    ``W = softmax_channels(conv1x1(ReLU(conv3x3([a; b]))))`` and the output is
    ``W[:, 0] * a + W[:, 1] * b``. For pairwise affinities the "image" is the
    N x N matrix (the 3x3 conv slides over query and key indices, as in the
    official code); for unary affinities it is the h x w grid.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(2, 2, 1)

    def weights(self, a: Tensor, b: Tensor) -> Tensor:
        """Fusion weights, B x 2 x H x W, summing to 1 over dim 1."""
        z = self.conv1(torch.stack([a, b], dim=1))
        return self.conv2(z.relu()).softmax(dim=1)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Fuse two B x H x W maps into one B x H x W map."""
        w = self.weights(a, b)
        return w[:, 0] * a + w[:, 1] * b


@MODELS.register_module()
class CrossTaskDualAffinity(BaseModule):
    """Task-specific affinities, feature enhancement and cross-task fusion.

    Per task ``t``: ``F_t + W_t(A_t V_t)`` (``'pairwise'``, AuxSegNet) or
    ``F_t + W_t(A_t V_t + c_t)`` with the unary context ``c_t = V_t^T u_t``
    broadcast to every position (``'dual'``, AuxSegNet+). The per-task
    modules are ``pairwise[t]`` (:class:`PairwiseAffinity`), ``proj[t]``
    (``W_t``) and, in ``'dual'`` mode, ``unary[t]`` (:class:`UnaryAffinity`).

    Args:
        channels (int): Feature channels of both tasks.
        mode (str): ``'pairwise'`` or ``'dual'``.
        fuse (bool): Build the cross-task fusion; without it ``A_ct`` and
            ``u_ct`` are the segmentation task's own affinities (the
            single-task ablation).
        renorm_cross_affinity (bool): Divide each row of ``A_ct`` by its sum
            (the official code does not).
        with_sal (bool): Build the saliency task; without it ``fuse`` must
            be False and ``sal`` inputs are None.
        fuse_unary (bool): In ``'dual'`` mode with ``fuse``, also build the
            unary fusion giving ``u_ct``; False (``u_ct`` None) when nothing
            uses ``u_ct``, so that no parameter is left without gradient.
        init_cfg (dict or list[dict], optional): Applied by
            ``init_weights``, after an owner's init (e.g. the Xavier init of
            :class:`DualAffinityHead`). Defaults to PyTorch's default conv
            weight init, as in the official code (auxsegnet_plus.md 2.4).
    """

    def __init__(self,
                 channels: int = 128,
                 mode: str = 'dual',
                 fuse: bool = True,
                 renorm_cross_affinity: bool = False,
                 with_sal: bool = True,
                 fuse_unary: bool = True,
                 init_cfg: OptMultiConfig = TORCH_DEFAULT_INIT):
        super().__init__(init_cfg)
        if mode not in AFFINITY_MODES:
            raise ValueError(f'mode must be one of {AFFINITY_MODES}, got '
                             f'{mode!r}')
        if fuse and not with_sal:
            raise ValueError('cross-task fusion needs the saliency task')
        self.mode = mode
        self.fuse = fuse
        self.renorm_cross_affinity = renorm_cross_affinity
        self.fuse_unary = fuse and fuse_unary and mode == 'dual'
        self.tasks = ('seg', 'sal') if with_sal else ('seg', )
        self.pairwise = nn.ModuleDict(
            {task: PairwiseAffinity(channels)
             for task in self.tasks})
        self.proj = nn.ModuleDict(
            {task: nn.Conv2d(channels, channels, 1)
             for task in self.tasks})
        if mode == 'dual':
            self.unary = nn.ModuleDict(
                {task: UnaryAffinity(channels)
                 for task in self.tasks})
        if fuse:
            self.fusion_pair = AffinityFusion()
            if self.fuse_unary:
                self.fusion_unary = AffinityFusion()

    def _enhance(self, task: str, x: Tensor, materialize: bool) -> tuple:
        """Enhanced features, pairwise and unary affinity of one task."""
        context, value, affinity = self.pairwise[task](x, materialize)
        unary = None
        if self.mode == 'dual':
            unary = self.unary[task](x)
            context = context + unary_context(unary, value)
        return x + self.proj[task](context), affinity, unary

    def forward(self,
                f_seg: Tensor,
                f_sal: Optional[Tensor] = None,
                materialize: bool = True) -> Tuple[Tensor, ...]:
        """Enhance both tasks' features and fuse their affinities.

        Args:
            f_seg (Tensor): Segmentation features, B x C x h x w.
            f_sal (Tensor, optional): Saliency features, B x C x h x w.
            materialize (bool): Build the N x N affinities (needed for
                refinement). Otherwise only the features are returned and
                no N x N tensor is held.

        Returns:
            tuple: ``F̂_seg``, ``F̂_sal`` (None without saliency), ``A_ct``
            (B x N x N, None unless ``materialize``) and ``u_ct`` (B x N,
            None unless ``'dual'``).
        """
        f_seg, a_seg, u_seg = self._enhance('seg', f_seg, materialize)
        if 'sal' not in self.tasks:
            return f_seg, None, a_seg, u_seg
        f_sal, a_sal, u_sal = self._enhance('sal', f_sal, materialize)
        if not self.fuse:
            return f_seg, f_sal, a_seg, u_seg
        a_ct = None
        if materialize:
            a_ct = self.fusion_pair(a_seg, a_sal)
            if self.renorm_cross_affinity:
                a_ct = a_ct / a_ct.sum(dim=2, keepdim=True)
        u_ct = None
        if self.fuse_unary:
            h, w = f_seg.shape[2:]
            u_ct = self.fusion_unary(
                u_seg.unflatten(1, (h, w)), u_sal.unflatten(1, (h, w)))
            u_ct = u_ct.flatten(1)
            u_ct = u_ct / u_ct.sum(dim=1, keepdim=True)
        return f_seg, f_sal, a_ct, u_ct


def refine_unary(x: Tensor, unary: Tensor) -> Tensor:
    """Residual unary refinement ``x + (sum_j u[j] x[:, j]) 1^T``.

    Args:
        x (Tensor): Predictions, B x C x h x w.
        unary (Tensor): B x N.

    Returns:
        Tensor: B x C x h x w.
    """
    return x + unary_context(unary, x)
