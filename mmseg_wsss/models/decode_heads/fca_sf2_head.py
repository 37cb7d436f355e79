"""The single-stage head of WS-FCN and SSSS (wsfcn.md 2.2-2.10)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from ...pseudo_labels.online import pseudo_gt_from_masks
from ...structures import IGNORE_INDEX, stack_img_labels
from ..utils.class_scores import mask_class_scores
from ..utils.fca import KAIMING_FAN_IN
from ..utils.stochastic_gate import StochasticGate


@MODELS.register_module()
class FCASF2Head(BaseDecodeHead):
    """Context + fusion + stochastic gate head, trained from image labels.

    WS-FCN (``context_cfg=dict(type='FCA')``, ``fusion_cfg=dict(
    type='SF2Fusion')``) and its baseline SSSS (``ASPPContext``,
    ``SkipGCIFusion``) are this head with different parts (wsfcn.md 5):

    1. the context module maps the deep input (``inputs[in_index[1]]``,
       e.g. WideResNet-38 ``conv6``) to ``channels`` (2.2-2.3);
    2. the fusion module merges it with the shallow input (``conv3``,
       /4) into a deep and a shallow stream (2.4-2.5);
    3. the stochastic gate mixes them (2.6), ``bottleneck`` (two 3x3
       conv-BN-ReLU with dropout 0.5 between) and ``conv_seg`` (1x1, C - 1
       outputs, after BaseDecodeHead's dropout) give the foreground logits,
       and :meth:`cls_seg` prepends the constant background logit (2.7), so
       :meth:`forward` returns ``num_classes`` logits like any mmseg head.

    Training (:meth:`loss`): class scores by nGWP + focal penalty (2.8)
    against ``gt_img_labels`` (``loss_cls``); masks refined by PAMR on the
    image, cleaned into pseudo ground truth (2.9-2.10) and a class-balanced
    CE against it (``loss_decode``), computed only when
    ``seg_loss_enabled`` (set by :class:`LossWarmupHook`); while it is off
    the term is an exact 0 kept in the graph.

    Args:
        context_cfg (dict): Context module; ``in_channels`` (the deep
            input's) and ``channels`` are filled in.
        fusion_cfg (dict): Fusion module, ``forward(low, high) -> (deep,
            shallow)``; ``low_channels``, ``high_channels`` and ``channels``
            are filled in.
        sg_psi (float): Stochastic gate ψ (2.6); 0 gives the deep stream.
        bottleneck_dropout (float): Dropout between the two 3x3 convs.
        bg_logit (float): Constant background logit.
        focal_p (float): Focal penalty exponent p.
        focal_lambda (float): Focal penalty offset λ (COCO: 0.1).
        pamr_cfg (dict): :class:`PAMR` config (COCO: ``num_iter=5``).
        pseudo_gt_cfg (dict): :func:`pseudo_gt_from_masks` ratios
            (``fg_ratio``, ``bg_ratio``, ``floor``).
        loss_cls (dict): Multi-label loss of the class scores (2.8).
        **kwargs: :class:`BaseDecodeHead` arguments: ``in_channels`` and
            ``in_index`` name (shallow, deep), ``input_transform`` is
            ``'multiple_select'``, ``loss_decode`` is the pseudo-GT loss
            (:class:`ClassBalancedCELoss`), ``dropout_ratio`` (0.1) sits
            before ``conv_seg``.

    The head's ``conv_cfg`` / ``norm_cfg`` / ``act_cfg`` also reach the
    context and fusion modules unless their configs set them.

    Raises:
        ValueError: ``in_channels`` / ``in_index`` do not name two inputs,
            fewer than 2 classes, an unknown ``pseudo_gt_cfg`` key, or
            ``loss_decode`` is a list.
    """

    def __init__(self,
                 context_cfg: ConfigType = dict(type='FCA'),
                 fusion_cfg: ConfigType = dict(type='SF2Fusion'),
                 sg_psi: float = 0.3,
                 bottleneck_dropout: float = 0.5,
                 bg_logit: float = 1.0,
                 focal_p: float = 3.0,
                 focal_lambda: float = 0.01,
                 pamr_cfg: ConfigType = dict(
                     type='PAMR', num_iter=10,
                     dilations=(1, 2, 4, 8, 12, 24)),
                 pseudo_gt_cfg: ConfigType = dict(
                     fg_ratio=0.6, bg_ratio=0.7, floor=0.2),
                 loss_cls: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_name='loss_cls'),
                 **kwargs):
        kwargs.setdefault('input_transform', 'multiple_select')
        kwargs.setdefault('in_index', (0, 1))
        kwargs.setdefault('loss_decode', dict(type='ClassBalancedCELoss'))
        kwargs.setdefault('init_cfg', KAIMING_FAN_IN)
        two = [
            isinstance(kwargs.get(key), (list, tuple))
            and len(kwargs[key]) == 2 for key in ('in_channels', 'in_index')
        ]
        if kwargs['input_transform'] != 'multiple_select' or not all(two):
            raise ValueError(
                'FCASF2Head takes two inputs (shallow /4, deep): set '
                "input_transform='multiple_select', in_channels=(low, high) "
                'and in_index=(low, high), got '
                f"{kwargs['input_transform']!r}, {kwargs.get('in_channels')}, "
                f"{kwargs['in_index']}")
        if kwargs.get('num_classes', 0) < 2:
            raise ValueError(
                'FCASF2Head: num_classes counts the background and must be '
                f">= 2, got {kwargs.get('num_classes')}")
        unknown = set(pseudo_gt_cfg) - {'fg_ratio', 'bg_ratio', 'floor'}
        if unknown:
            raise ValueError(f'FCASF2Head: unknown pseudo_gt_cfg keys '
                             f'{sorted(unknown)}; known: fg_ratio, bg_ratio, '
                             'floor')
        super().__init__(**kwargs)
        if isinstance(self.loss_decode, nn.ModuleList):
            raise ValueError('FCASF2Head: loss_decode is the one pseudo-GT '
                             'loss (a dict), got a list')
        low_channels, high_channels = self.in_channels
        layers = {
            key: value
            for key, value in (('conv_cfg', self.conv_cfg),
                               ('norm_cfg', self.norm_cfg),
                               ('act_cfg', self.act_cfg)) if value is not None
        }
        self.context = MODELS.build(
            dict(
                layers,
                **context_cfg,
                in_channels=high_channels,
                channels=self.channels))
        self.fusion = MODELS.build(
            dict(
                layers,
                **fusion_cfg,
                low_channels=low_channels,
                high_channels=self.channels,
                channels=self.channels))
        self.gate = StochasticGate(sg_psi)
        common = dict(
            padding=1,
            bias=False,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.bottleneck = nn.Sequential(
            ConvModule(self.channels, self.channels, 3, **common),
            nn.Dropout(bottleneck_dropout),
            ConvModule(self.channels, self.channels, 3, **common))
        self.conv_seg = nn.Conv2d(self.channels, self.num_classes - 1, 1)
        # element-wise, as the code (BaseDecodeHead's is Dropout2d)
        if self.dropout is not None:
            self.dropout = nn.Dropout(self.dropout_ratio)
        self.bg_logit = bg_logit
        self.focal_p = focal_p
        self.focal_lambda = focal_lambda
        self.pamr = MODELS.build(pamr_cfg)
        self.pseudo_gt_cfg = dict(pseudo_gt_cfg)
        self.loss_cls = MODELS.build(loss_cls)
        self.seg_loss_enabled = True

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Dropout, ``conv_seg`` and the constant background logit.

        Args:
            feat (Tensor): B x channels x h x w.

        Returns:
            Tensor: Logits, B x num_classes x h x w, channel 0 the constant
            ``bg_logit``.
        """
        if self.dropout is not None:
            feat = self.dropout(feat)
        fg = self.conv_seg(feat)
        bg = fg.new_full((fg.shape[0], 1, *fg.shape[2:]), self.bg_logit)
        return torch.cat([bg, fg], dim=1)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits at the shallow input's size (/4), B x C x h x w."""
        low, high = self._transform_inputs(inputs)
        deep, shallow = self.fusion(low, self.context(high))
        return self.cls_seg(self.bottleneck(self.gate(deep, shallow)))

    def class_scores(self, logits: Tensor) -> Tensor:
        """Foreground class scores (nGWP + focal penalty, 2.8).

        Args:
            logits (Tensor): :meth:`forward` output, B x C x h x w.

        Returns:
            Tensor: B x (C - 1) scores (logits of a multi-label loss).
        """
        return mask_class_scores(logits, logits.softmax(dim=1), self.focal_p,
                                 self.focal_lambda)

    def loss(self,
             inputs: Tuple[Tensor],
             batch_data_samples: SampleList,
             train_cfg: ConfigType,
             images: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Classification and self-supervised segmentation losses.

        Args:
            inputs (tuple[Tensor]): Backbone outputs.
            batch_data_samples (list[SegDataSample]): With
                ``gt_img_labels``; pixels outside a sample's ``img_shape``
                (batch padding) are ignored by the pseudo GT.
            train_cfg (dict): Unused (mmseg's signature).
            images (Tensor, optional): The de-normalised RGB images in
                [0, 1], B x 3 x H x W, for PAMR and the pseudo-GT size.
                Needed while ``seg_loss_enabled``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, the pseudo-GT loss (named by
            ``loss_decode``) and ``pseudo_gt_ratio``, the share of pixels
            the pseudo GT labels (0 during the warm-up).

        Raises:
            ValueError: ``images`` is missing while the segmentation loss is
                on.
        """
        logits = self.forward(inputs)
        img_labels = stack_img_labels(batch_data_samples).to(logits)
        masks = logits.softmax(dim=1)
        scores = mask_class_scores(logits, masks, self.focal_p,
                                   self.focal_lambda)
        losses = {self.loss_cls.loss_name: self.loss_cls(scores, img_labels)}
        if not self.seg_loss_enabled:
            losses[self.loss_decode.loss_name] = logits.sum() * 0
            losses['pseudo_gt_ratio'] = logits.new_zeros(())
            return losses
        if images is None:
            raise ValueError(
                'FCASF2Head.loss needs the de-normalised images (PAMR and '
                'the pseudo-GT size): pass images=..., as WSFCN does')
        with torch.no_grad():
            refined = self.pamr(images, masks.detach())
            pseudo_gt = pseudo_gt_from_masks(
                refined, img_labels, size=images.shape[2:],
                **self.pseudo_gt_cfg)
            # the batch padding (images smaller than the crop) is no image
            for label, sample in zip(pseudo_gt, batch_data_samples):
                height, width = sample.metainfo.get('img_shape',
                                                    label.shape)[:2]
                label[height:] = IGNORE_INDEX
                label[:, width:] = IGNORE_INDEX
        logits = resize(
            logits, size=images.shape[2:], mode='bilinear',
            align_corners=True)
        losses[self.loss_decode.loss_name] = self.loss_decode(
            logits, pseudo_gt, img_labels)
        losses['pseudo_gt_ratio'] = (pseudo_gt != IGNORE_INDEX).float().mean()
        return losses
