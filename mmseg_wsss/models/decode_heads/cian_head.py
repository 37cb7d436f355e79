"""CIAN decode heads: cross-image affinity before a shared classifier.

cian.md 3, 4.3, 6 and 12. Training runs a self and a cross branch through
:class:`~..utils.cross_image_affinity.CrossImageAffinity` and the same
classifier; inference (``forward`` / ``predict``) runs the self branch only,
so a stock ``EncoderDecoder`` predicts, slides and tests unchanged.
"""
import logging
from abc import abstractmethod
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ...structures import stack_img_labels
from ..utils.cross_image_affinity import CrossImageAffinity, group_ref_index
from .stock_head_features import StockHeadFeatures

LOSS_RESOLUTIONS = ('feature', 'input')
#: Arguments :class:`CIANWrapperHead` takes from the stock head's config.
INHERITED = ('in_channels', 'in_index', 'input_transform', 'num_classes',
             'conv_cfg', 'norm_cfg', 'align_corners', 'ignore_index',
             'loss_decode')


def downsample_labels(seg_label: Tensor, size: Sequence[int]) -> Tensor:
    """Nearest (``nearest-exact``) resize of a label map (cian.md 6).

    Unlike the official code's bilinear resize of label ids, it creates no
    id that is not in the map.

    Args:
        seg_label (Tensor): Labels, B x 1 x H x W.
        size (Sequence[int]): Target (h, w).

    Returns:
        Tensor: Long labels, B x 1 x h x w.
    """
    return F.interpolate(
        seg_label.float(), size=tuple(size), mode='nearest-exact').long()


class BaseCIANHead(BaseDecodeHead):
    """CrossImageAffinity before ``cls_seg``, with CIAN's four losses.

    Subclasses give the features (:meth:`_forward_feature`, B x
    ``channels`` x h x w) and the classifier (``conv_seg``, after the
    ``dropout_ratio`` dropout), which both branches share.

    Training expects a group-contiguous batch (``CommonClassPairSampler``,
    cian.md 4.3): images ``g * G .. g * G + G - 1`` form a group and every
    image references the other members of its group. When the batch size
    is not a multiple of ``group_size`` the leftover images reference
    themselves and a warning is logged. The losses (eq. 9), each term
    logged as ``loss_name + '_self'`` / ``'_cross'``:

    - every ``loss_decode`` term (eq. 6, e.g. ``loss_ce_self``,
      ``loss_ce_cross``) against ``gt_sem_seg`` (seeds or labels, 255
      ignored), with the ``sampler``'s pixel weights;
    - ``loss_completion`` (eq. 7-8, ``loss_cp_self``, ``loss_cp_cross``)
      against the target of the cross branch (no gradient through it).

    ``use_cross=False`` is the self-affinity baseline (``loss_ce_self``
    only; the completion loss needs the cross branch), ``use_completion=
    False`` keeps the two CE terms. ``acc_seg`` is the self branch's
    accuracy. With ``normalize_terms`` every logged term is divided by the
    number of logged terms (1, 2 or 4 with one ``loss_decode`` term;
    ``loss_decode`` terms sharing a ``loss_name`` are summed and count
    once). At initialisation the cross branch equals the self branch and
    the completion target is its own argmax, so the unit-weight sum of
    eq. 9 steps the shared head about as hard as that many CE terms;
    normalised, every variant with one ``loss_decode`` term steps it about
    as one CE term does.

    Args:
        cian (dict, optional): :class:`CrossImageAffinity` arguments; its
            ``conv_cfg`` and ``norm_cfg`` default to the head's.
        group_size (int): Images per group, G >= 2.
        use_cross (bool): Train the cross branch.
        use_completion (bool): Add the completion loss.
        loss_resolution (str): ``'feature'``: labels resized to the logits
            with :func:`downsample_labels` (the code's); ``'input'``: logits
            upsampled bilinearly to the labels (mmseg's).
        loss_completion (dict): ``CompletionLoss`` config.
        check_partners (bool): Raise if a partner shares no image class
            (reads ``gt_img_labels``; a debug check of the sampler).
        normalize_terms (bool): Divide every logged loss term by the
            number of logged loss terms (the mean of eq. 9's terms instead
            of their sum; the logged terms are the divided ones).
        **kwargs: :class:`BaseDecodeHead` arguments; ``norm_cfg`` defaults
            to BN (the module's output norm).

    Raises:
        ValueError: ``group_size < 2`` or an unknown ``loss_resolution``.
    """

    def __init__(self,
                 cian: OptConfigType = None,
                 group_size: int = 2,
                 use_cross: bool = True,
                 use_completion: bool = True,
                 loss_resolution: str = 'feature',
                 loss_completion: ConfigType = dict(type='CompletionLoss'),
                 check_partners: bool = False,
                 normalize_terms: bool = False,
                 **kwargs):
        kwargs.setdefault('norm_cfg', dict(type='BN'))
        super().__init__(**kwargs)
        if group_size < 2:
            raise ValueError(f'group_size must be >= 2, got {group_size}')
        if loss_resolution not in LOSS_RESOLUTIONS:
            raise ValueError(f'loss_resolution must be one of '
                             f'{LOSS_RESOLUTIONS}, got {loss_resolution!r}')
        self.group_size = group_size
        self.use_cross = use_cross
        self.use_completion = use_completion
        self.loss_resolution = loss_resolution
        self.check_partners = check_partners
        self.normalize_terms = normalize_terms
        cian_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
        cian_cfg.update(cian or {})
        self.cian = CrossImageAffinity(self.channels, **cian_cfg)
        self.loss_completion = MODELS.build(loss_completion)

    @abstractmethod
    def _forward_feature(self, inputs: Tuple[Tensor]) -> Tensor:
        """Features of the module, B x channels x h x w."""

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """Self-branch logits, B x num_classes x h x w (inference)."""
        z_self, _ = self.cian(self._forward_feature(inputs))
        return self.cls_seg(z_self)

    def loss(self, inputs: Tuple[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> Dict[str, Tensor]:
        """Both branches on a group-contiguous batch, and their losses.

        Args:
            inputs (tuple[Tensor]): Backbone features.
            batch_data_samples (list[SegDataSample]): With ``gt_sem_seg``
                and, for the completion rules that read them or
                ``check_partners``, ``gt_img_labels``.
            train_cfg (dict): Unused.

        Returns:
            dict[str, Tensor]: See :meth:`loss_by_feat`.
        """
        x = self._forward_feature(inputs)
        ref_index = None
        if self.use_cross:
            ref_index = self.ref_index(batch_data_samples, x.device)
        z_self, z_cross = self.cian(x, ref_index)
        seg_logits = dict(self=self.cls_seg(z_self))
        if z_cross is not None:
            seg_logits['cross'] = self.cls_seg(z_cross)
        return self.loss_by_feat(seg_logits, batch_data_samples)

    def ref_index(self, batch_data_samples: SampleList,
                  device: torch.device) -> Tensor:
        """References of the batch's images (:func:`group_ref_index`).

        Returns:
            Tensor: Long, B x (G - 1).

        Raises:
            ValueError: With ``check_partners``, an image shares no class
                with a partner.
        """
        batch = len(batch_data_samples)
        leftover = batch % self.group_size
        if leftover:
            print_log(
                f'CIAN: a batch of {batch} is not a multiple of group_size='
                f'{self.group_size}; its last {leftover} image(s) reference '
                'themselves (cross = self). Use CommonClassPairSampler and a '
                'per-GPU batch size that is a multiple of group_size.',
                logger='current',
                level=logging.WARNING)
        ref_index = group_ref_index(batch, self.group_size, device)
        if self.check_partners:
            labels = stack_img_labels(batch_data_samples).to(device) > 0
            shared = (labels[:, None] & labels[ref_index]).any(dim=2)
            if not shared.all():
                a, r = shared.logical_not().nonzero()[0].tolist()
                paths = [
                    batch_data_samples[i].metainfo.get('img_path', i)
                    for i in (a, int(ref_index[a, r]))
                ]
                raise ValueError(f'CIAN partners share no class: {paths}')
        return ref_index

    def loss_by_feat(self, seg_logits: Dict[str, Tensor],
                     batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """CE and completion terms of each branch (cian.md eq. 9).

        Args:
            seg_logits (dict[str, Tensor]): ``self`` and, with the cross
                branch, ``cross`` logits, B x K x h x w.
            batch_data_samples (list[SegDataSample]): See :meth:`loss`.

        Returns:
            dict[str, Tensor]: ``loss_name + '_' + branch`` of every
            ``loss_decode`` term and, with the cross branch and
            ``use_completion``, of ``loss_completion``; ``acc_seg``.
        """
        seg_label = self._stack_batch_gt(batch_data_samples)
        if self.loss_resolution == 'feature':
            seg_label = downsample_labels(seg_label,
                                          seg_logits['self'].shape[2:])
        else:
            seg_logits = {
                branch: self._upsample(logits, seg_label)
                for branch, logits in seg_logits.items()
            }
        terms = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        label = seg_label.squeeze(1)
        losses = {}
        for branch, logits in seg_logits.items():
            weight = None
            if self.sampler is not None:
                weight = self.sampler.sample(logits, seg_label)
            for term in terms:
                name = f'{term.loss_name}_{branch}'
                losses[name] = losses.get(name, 0) + term(
                    logits,
                    label,
                    weight=weight,
                    ignore_index=self.ignore_index)
        if self.use_completion and 'cross' in seg_logits:
            img_labels = None
            if self.loss_completion.needs_img_labels:
                img_labels = stack_img_labels(batch_data_samples).to(
                    label.device)
            target = self.loss_completion.targets(seg_logits['cross'],
                                                  img_labels, label)
            name = self.loss_completion.loss_name
            for branch, logits in seg_logits.items():
                losses[f'{name}_{branch}'] = self.loss_completion(
                    logits, target)
        if self.normalize_terms:
            count = len(losses)
            losses = {name: loss / count for name, loss in losses.items()}
        losses['acc_seg'] = accuracy(
            seg_logits['self'], label, ignore_index=self.ignore_index)
        return losses

    def _upsample(self, logits: Tensor, seg_label: Tensor) -> Tensor:
        """Bilinear resize of logits to the B x 1 x H x W labels' H x W."""
        return resize(
            logits,
            size=seg_label.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)


@MODELS.register_module()
class CIANHead(BaseCIANHead):
    """CIAN on the backbone features, then the LargeFOV classifier.

    cian.md 3: the classifier ``conv_seg`` is one 3x3 conv with
    ``dilation`` (12 at output stride 8), no bias, N(0, 0.01) (the default
    ``init_cfg``), shared by the self and cross branches; classifier
    dropout defaults to none.

    Args:
        dilation (int): Dilation (and padding) of the classifier.
        embed_ratio (float): :class:`CrossImageAffinity` embedding width.
        kv_pool (bool): Max-pool keys and values.
        merge (str): ``'max'`` or ``'avg'`` merge of the messages.
        **kwargs: :class:`BaseCIANHead` arguments.

    Raises:
        ValueError: ``channels`` differs from ``in_channels`` (the module
            and the classifier work on the input features).

    Shapes:
        inputs[in_index] (B, C, h, w) -> (B, num_classes, h, w).
    """

    def __init__(self,
                 dilation: int = 12,
                 embed_ratio: float = 0.5,
                 kv_pool: bool = True,
                 merge: str = 'max',
                 **kwargs):
        kwargs.setdefault('dropout_ratio', 0.)
        super().__init__(
            cian=dict(embed_ratio=embed_ratio, kv_pool=kv_pool, merge=merge),
            **kwargs)
        if self.channels != self.in_channels:
            raise ValueError(f'CIANHead: channels ({self.channels}) must '
                             f'equal in_channels ({self.in_channels})')
        self.conv_seg = nn.Conv2d(
            self.channels,
            self.out_channels,
            3,
            padding=dilation,
            dilation=dilation,
            bias=False)

    def _forward_feature(self, inputs: Tuple[Tensor]) -> Tensor:
        """The selected backbone features, B x C x h x w."""
        return self._transform_inputs(inputs)


@MODELS.register_module()
class CIANWrapperHead(BaseCIANHead):
    """CIAN between a stock mmseg head's features and its classifier.

    The stock head (``head``) runs as :class:`StockHeadFeatures` (its
    ``forward`` up to ``cls_seg``); the module works on its ``channels``
    features and this head's ``conv_seg`` (1x1 with bias, as stock) after
    ``dropout_ratio`` classifies both branches. Unless given here,
    ``in_channels``, ``in_index``, ``input_transform``, ``num_classes``,
    ``conv_cfg``, ``norm_cfg``, ``align_corners``, ``ignore_index`` and
    ``loss_decode`` come from ``head``, and ``dropout_ratio`` from
    ``head`` (default 0.1, mmseg's), which is itself built without
    classifier dropout. So a stock ``decode_head`` becomes
    ``dict(type='CIANWrapperHead', head=<the stock head>)``.

    Args:
        head (dict): A stock decode head config (see
            :class:`StockHeadFeatures` for the heads that can be wrapped).
        cian (dict, optional): :class:`CrossImageAffinity` arguments.
        **kwargs: :class:`BaseCIANHead` arguments.

    Raises:
        TypeError: A head that cannot give features.

    Shapes:
        inputs (backbone features) -> (B, num_classes, h, w).
    """

    def __init__(self, head: ConfigType, cian: OptConfigType = None, **kwargs):
        cfg = dict(head)
        for key in INHERITED:
            if key in cfg:
                kwargs.setdefault(key, cfg[key])
        kwargs.setdefault('dropout_ratio', cfg.get('dropout_ratio', 0.1))
        cfg['dropout_ratio'] = 0.
        features = StockHeadFeatures(MODELS.build(cfg))
        kwargs['channels'] = features.channels
        super().__init__(cian=cian, **kwargs)
        self.features = features

    def _forward_feature(self, inputs: Tuple[Tensor]) -> Tensor:
        """The stock head's features, B x channels x h x w."""
        return self.features(inputs)
