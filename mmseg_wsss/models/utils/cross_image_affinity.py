"""Cross-image affinity (CIAN, cian.md 4).

Each image receives non-local messages from itself and from the other
members of its group; the element-wise max of the messages goes through an
output function whose norm starts at zero, and is added to the features.
The messages are :func:`~.affinity.pairwise_context` of the image's queries
with the keys / values of the referenced image.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from .affinity import pairwise_context

MERGES = ('max', 'avg')
#: cian.md 4.1: every conv N(0, 0.01) without bias, the out norm's gamma and
#: beta zero, so the module starts as the identity. Part of ``init_weights``
#: only: a checkpoint loaded afterwards (round 2, cian.md 8) keeps its gamma.
CIAN_INIT = dict(
    type='Normal',
    std=0.01,
    layer='Conv2d',
    override=dict(type='Constant', name='out_norm', val=0, bias=0))


def group_ref_index(batch_size: int,
                    group_size: int,
                    device: Optional[torch.device] = None) -> Tensor:
    """References of each image of a group-contiguous batch (cian.md 4.3).

    Images ``g * G .. g * G + G - 1`` form group ``g``; member ``k``
    references members ``k + 1, ..., k + G - 1`` (mod ``G``) of its group.
    The last ``batch_size % group_size`` images form no whole group and
    reference themselves (their cross branch equals their self branch).

    Args:
        batch_size (int): Images in the batch, B.
        group_size (int): Images per group, G.
        device (torch.device, optional): Device of the index.

    Returns:
        Tensor: Long, B x (G - 1).

    Raises:
        ValueError: ``group_size < 2`` or ``batch_size < 1``.
    """
    if group_size < 2 or batch_size < 1:
        raise ValueError(f'need group_size >= 2 and batch_size >= 1, got '
                         f'{group_size} and {batch_size}')
    index = torch.arange(batch_size, device=device)
    member = index % group_size
    shift = torch.arange(1, group_size, device=device)
    first = index - member
    refs = first[:, None] + (member[:, None] + shift) % group_size
    whole = batch_size - batch_size % group_size
    refs[whole:] = index[whole:, None]
    return refs


def merge_messages(messages: Tensor, mode: str = 'max') -> Tensor:
    """Merge each image's messages (cian.md eq. 5).

    Args:
        messages (Tensor): (1 + R) x B x C' x h x w, as
            :meth:`CrossImageAffinity.messages`.
        mode (str): ``'max'`` (element-wise) or ``'avg'``.

    Returns:
        Tensor: B x C' x h x w.

    Raises:
        ValueError: Unknown ``mode``.
    """
    if mode == 'max':
        return messages.amax(dim=0)
    if mode == 'avg':
        return messages.mean(dim=0)
    raise ValueError(f'mode must be one of {MERGES}, got {mode!r}')


@MODELS.register_module()
class CrossImageAffinity(BaseModule):
    """Self and cross-image non-local messages with a residual output.

    cian.md 4, for query image ``a`` and reference ``b``::

        m^{a<-b}_i = sum_j softmax_j(theta(x^a)_i . phi(x^b)_j) g(x^b)_j
        z_self     = x^a + h(m^{a<-a})
        z_cross    = x^a + h(merge(m^{a<-a}, m^{a<-r_1}, ...))

    ``theta``, ``phi`` and ``g`` are bias-free 1x1 convs to
    ``C' = in_channels * embed_ratio`` channels; keys and values are
    max-pooled (3x3, stride 2, padding 1) with ``kv_pool``. ``h`` is a 1x1
    conv back to ``in_channels`` (no bias) and a norm (``out_norm``) that
    uses batch statistics in training; both branches share ``h``, each call
    normalising with its own batch and updating the same running
    statistics. The references of all images are gathered along the batch
    and processed in one call. ``init_weights`` with the default
    ``init_cfg`` (:data:`CIAN_INIT`) zeroes the out norm's gamma and beta,
    so both branches return ``x`` until it is trained; a checkpoint loaded
    afterwards keeps its gamma.

    Args:
        in_channels (int): Feature channels, C.
        embed_ratio (float): Embedding width as a fraction of C.
        kv_pool (bool): Max-pool keys and values: M = ceil(h/2) ceil(w/2)
            reference positions instead of N = h w.
        merge (str): ``'max'`` or ``'avg'`` of the self and cross messages.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict): Norm of ``h`` (``SyncBN`` under DDP when the
            per-GPU batch is small, cian.md 12).
        init_cfg (dict or list[dict], optional): Initialisation config.

    Raises:
        ValueError: Unknown ``merge``, an empty embedding or no
            ``norm_cfg``.

    Shapes:
        x (B, C, h, w) -> z_self, z_cross (B, C, h, w).
    """

    def __init__(self,
                 in_channels: int,
                 embed_ratio: float = 0.5,
                 kv_pool: bool = True,
                 merge: str = 'max',
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 init_cfg: OptMultiConfig = CIAN_INIT):
        super().__init__(init_cfg=init_cfg)
        channels = int(in_channels * embed_ratio)
        if merge not in MERGES:
            raise ValueError(f'merge must be one of {MERGES}, got {merge!r}')
        if channels < 1:
            raise ValueError(f'embed_ratio={embed_ratio} leaves no channel '
                             f'of {in_channels}')
        if norm_cfg is None:
            raise ValueError('CrossImageAffinity needs norm_cfg: its output '
                             'norm gates the residual')
        self.merge = merge
        self.theta, self.phi, self.g = (
            build_conv_layer(conv_cfg, in_channels, channels, 1, bias=False)
            for _ in range(3))
        self.kv_pool = nn.MaxPool2d(3, 2, 1) if kv_pool else nn.Identity()
        self.out_conv = build_conv_layer(
            conv_cfg, channels, in_channels, 1, bias=False)
        self.out_norm = build_norm_layer(norm_cfg, in_channels)[1]

    def embed(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Queries (B x C' x h x w), keys and values (B x C' x h' x w')."""
        return self.theta(x), self.kv_pool(self.phi(x)), self.kv_pool(
            self.g(x))

    def messages(self,
                 x: Tensor,
                 ref_index: Optional[Tensor] = None) -> Tensor:
        """Messages of every image from itself and its references (eq. 1-3).

        Args:
            x (Tensor): Features, B x C x h x w.
            ref_index (Tensor, optional): Long, B x R: image ``a``
                references images ``ref_index[a]``.

        Returns:
            Tensor: (1 + R) x B x C' x h x w; index 0 holds the messages
            from the image itself, ``1 + r`` those from ``ref_index[:, r]``.

        Raises:
            TypeError: ``ref_index`` is not an integer tensor.
            ValueError: ``ref_index`` is not B x R or indexes outside the
                batch.
        """
        query, key, value = self.embed(x)
        batch = x.shape[0]
        if ref_index is not None:
            _check_ref_index(ref_index, batch)
            refs = torch.cat([
                torch.arange(batch, device=x.device),
                ref_index.t().flatten().to(x.device)
            ])
            query = query.repeat(1 + ref_index.shape[1], 1, 1, 1)
            key, value = key[refs], value[refs]
        # contiguous like the merge's result: h then treats the self and
        # the merged messages alike (self-pairing gives z_cross == z_self)
        return pairwise_context(query, key,
                                value).unflatten(0, (-1, batch)).contiguous()

    def forward(
            self,
            x: Tensor,
            ref_index: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Self- and cross-affinity features.

        Args:
            x (Tensor): Features, B x C x h x w.
            ref_index (Tensor, optional): Long, B x (G - 1): the references
                of each image (:func:`group_ref_index`); None for the self
                branch only (inference).

        Returns:
            tuple[Tensor, Tensor | None]: ``z_self`` and ``z_cross`` (None
            without ``ref_index``), B x C x h x w each.
        """
        messages = self.messages(x, ref_index)
        z_self = x + self._out(messages[0])
        if ref_index is None:
            return z_self, None
        return z_self, x + self._out(merge_messages(messages, self.merge))

    def _out(self, message: Tensor) -> Tensor:
        """The output function h: B x C' x h x w -> B x C x h x w."""
        return self.out_norm(self.out_conv(message))


def _check_ref_index(ref_index: Tensor, batch: int) -> None:
    """Raise unless ``ref_index`` is an integer B x R index into the batch."""
    if ref_index.is_floating_point() or ref_index.dtype == torch.bool:
        raise TypeError(f'ref_index must be an integer tensor, got '
                        f'{ref_index.dtype}')
    if ref_index.dim() != 2 or ref_index.shape[0] != batch:
        raise ValueError(f'ref_index must be {batch} x R, got '
                         f'{tuple(ref_index.shape)}')
    if ref_index.numel() and (ref_index.min() < 0 or ref_index.max() >= batch):
        raise ValueError(f'ref_index must index the batch of {batch}, got '
                         f'values in [{int(ref_index.min())}, '
                         f'{int(ref_index.max())}]')
