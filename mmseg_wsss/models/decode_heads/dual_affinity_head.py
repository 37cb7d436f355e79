from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from ..utils.affinity import propagate
from ..utils.cross_task_affinity import CrossTaskDualAffinity, refine_unary

TASKS = ('seg', 'sal')


def dilated_convs(in_channels: int,
                  channels: int,
                  dilations: Sequence[int],
                  norm_cfg: Optional[ConfigType] = None) -> nn.Sequential:
    """3x3 convs (Xavier-uniform) with the given dilations, each followed by
    a norm layer (if ``norm_cfg``, else the conv has a bias) and ReLU."""
    layers = []
    for dilation in dilations:
        conv = nn.Conv2d(
            in_channels,
            channels,
            3,
            padding=dilation,
            dilation=dilation,
            bias=norm_cfg is None)
        nn.init.xavier_uniform_(conv.weight)
        layers.append(conv)
        if norm_cfg is not None:
            layers.append(build_norm_layer(norm_cfg, channels)[1])
        layers.append(nn.ReLU(inplace=True))
        in_channels = channels
    return nn.Sequential(*layers)


@MODELS.register_module()
class DualAffinityHead(BaseDecodeHead):
    """Segmentation and saliency branches joined by a cross-task affinity.

    The head of AuxSegNet (``affinity_mode='pairwise'``) and AuxSegNet+
    (``'dual'``), auxsegnet_plus.md 2.3-2.9. Each task ``t`` reads the same
    features: ``F_t`` = dilated convs (``dilations``) or a copy of a stock
    mmseg head (``branch``); the affinity module enhances ``F_t``; a
    ``post_dilation`` 3x3 conv and a bias-free 1x1 classifier give the
    initial prediction ``S_t`` (seg: K logits, sal: one logit). The
    cross-task affinity refines them: ``S^p_t = A_ct S_t`` and, in
    ``'dual'`` mode, ``S^u_t = S_t + (S_t u_ct) 1^T``. Every prediction is
    supervised (eq. 19): CE against the segmentation pseudo label and masked
    BCE against ``gt_saliency`` (255 ignored). Inference returns ``S^p_seg``
    (``S_seg`` without affinity). ``norm_cfg`` adds a norm layer after each
    branch conv (the official code has none).

    Args:
        dilations (Sequence[int]): Dilations of the branch convs (no
            ``branch``).
        post_dilation (int, optional): Dilation of the 3x3 conv after the
            affinity module; None for none.
        affinity_mode (str): ``'dual'``, ``'pairwise'`` or ``'none'``.
        affinity_source (str): Refine with the cross-task affinity
            (``'cross'``) or the segmentation task's own (``'seg'``).
        refine_targets (Sequence[str]): Tasks whose refined predictions
            are supervised, from ``('seg', 'sal')``.
        unary_refine (str): ``'residual'`` (eq. 14/16) or ``'none'``.
        use_sal_branch (bool): Build the saliency task.
        renorm_cross_affinity (bool): Row-normalise ``A_ct``.
        branch (dict, optional): A stock mmseg decode head config whose
            ``_forward_feature`` gives ``F_t`` (two copies are built).
        affinity_channels (int, optional): Channels of ``F_t`` inside the
            affinity module; a 1x1 projection is added when ``branch``'s
            ``channels`` differ. Defaults to ``channels``.
        loss_sal (dict): Saliency loss (ignores 255).
        **kwargs: :class:`BaseDecodeHead` arguments.
    """

    def __init__(self,
                 dilations: Sequence[int] = (6, 12),
                 post_dilation: Optional[int] = 18,
                 affinity_mode: str = 'dual',
                 affinity_source: str = 'cross',
                 refine_targets: Sequence[str] = TASKS,
                 unary_refine: str = 'residual',
                 use_sal_branch: bool = True,
                 renorm_cross_affinity: bool = False,
                 branch: Optional[ConfigType] = None,
                 affinity_channels: Optional[int] = None,
                 loss_sal: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     avg_non_ignore=True,
                     loss_name='loss_sal'),
                 **kwargs):
        # the layers are initialised here (Xavier), not by BaseDecodeHead's
        # default normal init of conv_seg
        kwargs.setdefault('init_cfg', None)
        super().__init__(**kwargs)
        self._check_options(affinity_mode, affinity_source, refine_targets,
                            unary_refine, use_sal_branch)
        self.affinity_mode = affinity_mode
        self.affinity_source = affinity_source
        self.refine_targets = tuple(refine_targets)
        self.unary_refine = unary_refine
        self.tasks = TASKS if use_sal_branch else ('seg', )
        width = affinity_channels or self.channels
        for task in self.tasks:
            setattr(self, f'{task}_branch',
                    self._build_branch(branch, dilations, width))
            setattr(
                self, f'{task}_post',
                dilated_convs(width, width, (post_dilation, ), self.norm_cfg)
                if post_dilation else nn.Identity())
        self.affinity = None
        if affinity_mode != 'none':
            self.affinity = CrossTaskDualAffinity(
                width,
                mode=affinity_mode,
                fuse=affinity_source == 'cross',
                renorm_cross_affinity=renorm_cross_affinity,
                with_sal=use_sal_branch,
                fuse_unary=unary_refine == 'residual')
        self.conv_seg = nn.Conv2d(width, self.out_channels, 1, bias=False)
        nn.init.xavier_uniform_(self.conv_seg.weight)
        if use_sal_branch:
            self.sal_cls = nn.Conv2d(width, 1, 1, bias=False)
            nn.init.xavier_uniform_(self.sal_cls.weight)
            self.loss_sal = MODELS.build(loss_sal)

    @staticmethod
    def _check_options(affinity_mode: str, affinity_source: str,
                       refine_targets: Sequence[str], unary_refine: str,
                       use_sal_branch: bool) -> None:
        """Raise on an unknown or inconsistent option."""
        choices = dict(
            affinity_mode=(affinity_mode, ('dual', 'pairwise', 'none')),
            affinity_source=(affinity_source, ('cross', 'seg')),
            unary_refine=(unary_refine, ('residual', 'none')))
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f'{name} must be one of {allowed}, got '
                                 f'{value!r}')
        unknown = set(refine_targets) - set(TASKS)
        if unknown:
            raise ValueError(f'refine_targets must be a subset of {TASKS}, '
                             f'got {tuple(refine_targets)}')
        if not use_sal_branch and affinity_mode != 'none' and (
                affinity_source == 'cross' or 'sal' in refine_targets):
            raise ValueError(
                "without the saliency branch use affinity_source='seg' and "
                "refine_targets=('seg',) (or affinity_mode='none')")

    def _build_branch(self, branch: Optional[ConfigType],
                      dilations: Sequence[int], width: int) -> nn.Module:
        """One task's feature branch: dilated convs or a stock head."""
        if branch is None:
            return dilated_convs(self.in_channels, width, dilations,
                                 self.norm_cfg)
        cfg = dict(branch)
        cfg.setdefault('in_channels', self.in_channels)
        cfg.setdefault('in_index', self.in_index)
        cfg.setdefault('num_classes', self.num_classes)
        head = MODELS.build(cfg)
        del head.conv_seg  # only its features are used
        layers = [StockHeadFeatures(head)]
        if head.channels != width:
            layers += [nn.Conv2d(head.channels, width, 1), nn.ReLU()]
        return nn.Sequential(*layers)

    def forward(self, inputs: Tuple[Tensor]) -> Dict[str, Tensor]:
        """All predictions at feature resolution.

        Args:
            inputs (tuple[Tensor]): Backbone features.

        Returns:
            dict[str, Tensor]: ``seg`` (B x K x h x w) and ``sal``
            (B x 1 x h x w) initial logits; ``seg_pair``/``sal_pair`` and
            ``seg_unary``/``sal_unary`` refined logits of the refined tasks;
            ``affinity`` (B x N x N) and ``unary`` (B x N) when present.
        """
        feats = {}
        for task in self.tasks:
            branch = getattr(self, f'{task}_branch')
            feats[task] = branch(
                inputs if isinstance(branch[0], StockHeadFeatures) else self.
                _transform_inputs(inputs))
        affinity = unary = None
        if self.affinity is not None:
            feats['seg'], sal, affinity, unary = self.affinity(
                feats['seg'], feats.get('sal'))
            if sal is not None:
                feats['sal'] = sal
        outs = dict(seg=self.cls_seg(self.seg_post(feats['seg'])))
        if 'sal' in feats:
            outs['sal'] = self.sal_cls(self.sal_post(feats['sal']))
        if affinity is None:
            return outs
        outs.update(affinity=affinity)
        for task in self.refine_targets:
            outs[f'{task}_pair'] = propagate(affinity, outs[task])
        if unary is not None:
            outs.update(unary=unary)
            if self.unary_refine == 'residual':
                for task in self.refine_targets:
                    outs[f'{task}_unary'] = refine_unary(outs[task], unary)
        return outs

    @staticmethod
    def output_key(outs: Dict[str, Tensor]) -> str:
        """Key of the segmentation output used at inference."""
        return 'seg_pair' if 'seg_pair' in outs else 'seg'

    def predict(self, inputs: Tuple[Tensor], batch_img_metas: List[dict],
                test_cfg: ConfigType) -> Tensor:
        """Refined segmentation logits resized to the input,
        B x K x H x W.

        ``test_cfg.output`` picks another prediction for ablations:
        ``'seg'`` (initial), ``'seg_pair'`` or ``'seg_unary'``.
        """
        outs = self.forward(inputs)
        key = (test_cfg or {}).get('output') or self.output_key(outs)
        if key not in outs or not key.startswith('seg'):
            raise KeyError(f'test_cfg.output={key!r}: this head predicts '
                           f"{sorted(k for k in outs if k.startswith('seg'))}")
        return self.predict_by_feat(outs[key], batch_img_metas)

    def loss_by_feat(self, outs: Dict[str, Tensor],
                     batch_data_samples: SampleList) -> dict:
        """The seg and sal terms of eq. 19 (plus ``acc_seg``).

        Args:
            outs (dict[str, Tensor]): :meth:`forward` output.
            batch_data_samples (list[SegDataSample]): With ``gt_sem_seg``
                (pseudo labels) and, with the saliency task,
                ``gt_saliency`` ({0, 1}, 255 ignored).

        Returns:
            dict[str, Tensor]: ``loss_seg``, ``loss_seg_pair``,
            ``loss_seg_unary``, ``loss_sal``, ... (the present terms).
        """
        seg_label = self._stack_batch_gt(batch_data_samples).squeeze(1)
        losses = {}
        for key in ('seg', 'seg_pair', 'seg_unary'):
            if key in outs:
                logits = self._resize(outs[key], seg_label)
                losses[f'loss_{key}'] = self._seg_loss(logits, seg_label)
        if 'sal' in self.tasks:
            sal_label = self._stack_saliency(batch_data_samples)
            for key in ('sal', 'sal_pair', 'sal_unary'):
                if key in outs:
                    logits = self._resize(outs[key], sal_label)
                    losses[f'loss_{key}'] = self.loss_sal(
                        logits, sal_label, ignore_index=self.ignore_index)
        final = self._resize(outs[self.output_key(outs)], seg_label)
        losses['acc_seg'] = accuracy(
            final, seg_label, ignore_index=self.ignore_index)
        return losses

    def _resize(self, logits: Tensor, label: Tensor) -> Tensor:
        """Bilinear resize of logits to the label's H x W."""
        return resize(
            logits,
            size=label.shape[1:],
            mode='bilinear',
            align_corners=self.align_corners)

    def _seg_loss(self, logits: Tensor, label: Tensor) -> Tensor:
        """Sum of the ``loss_decode`` losses."""
        loss_decodes = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        return sum(
            loss(logits, label, ignore_index=self.ignore_index)
            for loss in loss_decodes)

    @staticmethod
    def _stack_saliency(batch_data_samples: SampleList) -> Tensor:
        """``gt_saliency`` of the batch as B x H x W."""
        for sample in batch_data_samples:
            if 'gt_saliency' not in sample:
                raise KeyError(
                    f"{sample.metainfo.get('img_path', '?')}: no gt_saliency; "
                    'the saliency task needs LoadSaliencyMap(binarize_thr=0.5)'
                    ' in the training pipeline (or use_sal_branch=False)')
        return torch.stack(
            [sample.gt_saliency.data[0] for sample in batch_data_samples])


class StockHeadFeatures(nn.Module):
    """The ``_forward_feature`` output of a stock mmseg decode head."""

    def __init__(self, head: BaseDecodeHead):
        super().__init__()
        self.head = head

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        return self.head._forward_feature(inputs)
