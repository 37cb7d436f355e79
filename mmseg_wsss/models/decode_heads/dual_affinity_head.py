from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList
from torch import Tensor

from ...structures import stack_saliency
from ..utils.affinity import propagate
from ..utils.cross_task_affinity import CrossTaskDualAffinity, refine_unary
from .stock_head_features import StockHeadFeatures

TASKS = ('seg', 'sal')
#: Suffixes of a task's predictions (initial, pairwise-, unary-refined);
#: ``'seg' + suffix`` is the output key, ``loss_name + suffix`` its loss.
SUFFIXES = ('', '_pair', '_unary')
#: The official code's Xavier-uniform weights (auxsegnet_plus.md 2.3).
XAVIER_INIT = dict(type='Xavier', layer='Conv2d', distribution='uniform')


@MODELS.register_module()
class DualAffinityHead(BaseDecodeHead):
    """Segmentation and saliency branches joined by a cross-task affinity.

    The head of AuxSegNet (``affinity_mode='pairwise'``) and AuxSegNet+
    (``'dual'``), auxsegnet_plus.md 2.3-2.9. Each task ``t`` reads the same
    features: ``F_t = branches[t]`` (3x3 ``ConvModule``s with ``dilations``,
    or a copy of a stock mmseg head, ``branch``); the affinity module
    enhances ``F_t``; ``post_convs[t]`` (a 3x3 ``ConvModule``, dilation
    ``post_dilation``) and a bias-free 1x1 classifier (``conv_seg`` after
    the ``dropout_ratio`` dropout, ``sal_cls``) give the initial prediction
    ``S_t`` (seg: K logits, sal: one logit). The cross-task affinity refines
    them: ``S^p_t = A_ct S_t`` and, in ``'dual'`` mode,
    ``S^u_t = S_t + (S_t u_ct) 1^T``. Every prediction is supervised
    (eq. 19) by each ``loss_decode`` term against ``gt_sem_seg`` (with the
    ``sampler``'s pixel weights, as :class:`BaseDecodeHead`) and by each
    ``loss_sal`` term against ``gt_saliency`` (255 ignored); a term logs as
    ``loss_name + suffix``, the suffix being ``''``, ``'_pair'`` or
    ``'_unary'`` (e.g. ``loss_ce``, ``loss_ce_pair``, ``loss_sal_unary``).
    Inference returns ``S^p_seg`` (``S_seg`` without affinity).

    ``conv_cfg``, ``norm_cfg`` and ``act_cfg`` build the branch, projection
    and post convs (the official code: no norm, ReLU). ``init_cfg``
    defaults to Xavier-uniform weights and zero biases for every ``Conv2d``
    of the head (the official code's init; a stock ``branch`` included);
    the affinity module then applies its own ``init_cfg``.

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
        branch (dict, optional): A stock mmseg decode head config (two
            copies are built, see :class:`StockHeadFeatures`); its
            ``in_channels``, ``in_index`` and ``num_classes`` default to
            this head's, its ``dropout_ratio`` to 0.
        affinity_channels (int, optional): Channels of ``F_t`` inside the
            affinity module; a 1x1 projection is added when ``branch``'s
            ``channels`` differ. Defaults to ``channels``.
        loss_sal (dict | Sequence[dict]): Saliency loss terms (ignore 255);
            their ``loss_name`` must differ from ``loss_decode``'s.
        init_cfg (dict or list[dict], optional): Initialisation config.
        **kwargs: :class:`BaseDecodeHead` arguments.

    Raises:
        ValueError: An unknown or inconsistent option, or a loss name shared
            by ``loss_decode`` and ``loss_sal``.
        TypeError: A ``branch`` head that cannot give features (see
            :class:`StockHeadFeatures`).
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
                 branch: OptConfigType = None,
                 affinity_channels: Optional[int] = None,
                 loss_sal: Union[ConfigType, Sequence[ConfigType]] = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     avg_non_ignore=True,
                     loss_name='loss_sal'),
                 init_cfg: OptMultiConfig = XAVIER_INIT,
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        self._check_options(affinity_mode, affinity_source, refine_targets,
                            unary_refine, use_sal_branch)
        self.affinity_mode = affinity_mode
        self.affinity_source = affinity_source
        self.refine_targets = tuple(refine_targets)
        self.unary_refine = unary_refine
        self.tasks = TASKS if use_sal_branch else ('seg', )
        self.with_stock_branch = branch is not None
        width = affinity_channels or self.channels
        self.branches = nn.ModuleDict({
            task: self._build_branch(branch, dilations, width)
            for task in self.tasks
        })
        self.post_convs = nn.ModuleDict({
            task: self._conv(width, width, 3, post_dilation)
            if post_dilation else nn.Identity()
            for task in self.tasks
        })
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
        if use_sal_branch:
            self.sal_cls = nn.Conv2d(width, 1, 1, bias=False)
            self.loss_sal = MODELS.build(loss_sal) if isinstance(
                loss_sal, dict) else nn.ModuleList(
                    [MODELS.build(cfg) for cfg in loss_sal])
            seg_names = {t.loss_name for t in _loss_terms(self.loss_decode)}
            shared = seg_names & {
                t.loss_name
                for t in _loss_terms(self.loss_sal)
            }
            if shared:
                raise ValueError(
                    f'loss_decode and loss_sal both log {sorted(shared)}: '
                    'give their terms different loss_name')

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

    def _conv(self,
              in_channels: int,
              out_channels: int,
              kernel_size: int,
              dilation: int = 1) -> ConvModule:
        """A conv + norm + activation of this head's configs."""
        return ConvModule(
            in_channels,
            out_channels,
            kernel_size,
            padding=dilation * (kernel_size // 2),
            dilation=dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _build_branch(self, branch: OptConfigType, dilations: Sequence[int],
                      width: int) -> nn.Sequential:
        """One task's feature branch: dilated convs or a stock head."""
        if branch is None:
            channels = [self.in_channels] + [width] * len(dilations)
            return nn.Sequential(*[
                self._conv(c_in, c_out, 3, dilation) for c_in, c_out,
                dilation in zip(channels[:-1], channels[1:], dilations)
            ])
        cfg = dict(branch)
        for key in ('in_channels', 'in_index', 'num_classes'):
            cfg.setdefault(key, getattr(self, key))
        cfg.setdefault('dropout_ratio', 0.)
        features = StockHeadFeatures(MODELS.build(cfg))
        layers = [features]
        if features.channels != width:
            layers.append(self._conv(features.channels, width, 1))
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
        x = inputs if self.with_stock_branch else self._transform_inputs(
            inputs)
        feats = {task: self.branches[task](x) for task in self.tasks}
        affinity = unary = None
        if self.affinity is not None:
            feats['seg'], sal, affinity, unary = self.affinity(
                feats['seg'], feats.get('sal'))
            if sal is not None:
                feats['sal'] = sal
        outs = dict(seg=self.cls_seg(self.post_convs['seg'](feats['seg'])))
        if 'sal' in feats:
            outs['sal'] = self.sal_cls(self.post_convs['sal'](feats['sal']))
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
            dict[str, Tensor]: ``loss_name + suffix`` of every
            ``loss_decode`` and ``loss_sal`` term and present prediction
            (suffix ``''``, ``'_pair'``, ``'_unary'``), and ``acc_seg`` of
            the inference output.
        """
        seg_label = self._stack_batch_gt(batch_data_samples)
        losses = {}
        for suffix in SUFFIXES:
            if 'seg' + suffix in outs:
                self._add_seg_losses(losses, outs['seg' + suffix], seg_label,
                                     suffix)
        if 'sal' in self.tasks:
            sal_label = stack_saliency(batch_data_samples)
            for suffix in SUFFIXES:
                if 'sal' + suffix not in outs:
                    continue
                logits = self._resize(outs['sal' + suffix], sal_label)
                for term in _loss_terms(self.loss_sal):
                    _accumulate(
                        losses, term.loss_name + suffix,
                        term(logits, sal_label,
                             ignore_index=self.ignore_index))
        seg_label = seg_label.squeeze(1)
        final = self._resize(outs[self.output_key(outs)], seg_label)
        losses['acc_seg'] = accuracy(
            final, seg_label, ignore_index=self.ignore_index)
        return losses

    def _add_seg_losses(self, losses: dict, logits: Tensor, seg_label: Tensor,
                        suffix: str) -> None:
        """Add the ``loss_decode`` terms of one prediction, as
        :meth:`BaseDecodeHead.loss_by_feat` (seg_label: B x 1 x H x W)."""
        logits = self._resize(logits, seg_label.squeeze(1))
        weight = None
        if self.sampler is not None:
            weight = self.sampler.sample(logits, seg_label)
        seg_label = seg_label.squeeze(1)
        for term in _loss_terms(self.loss_decode):
            _accumulate(
                losses, term.loss_name + suffix,
                term(
                    logits,
                    seg_label,
                    weight=weight,
                    ignore_index=self.ignore_index))

    def _resize(self, logits: Tensor, label: Tensor) -> Tensor:
        """Bilinear resize of logits to the B x H x W label's H x W."""
        return resize(
            logits,
            size=label.shape[1:],
            mode='bilinear',
            align_corners=self.align_corners)


def _loss_terms(losses: nn.Module) -> List[nn.Module]:
    """The terms of a head's loss: a loss module or a ``ModuleList``."""
    return list(losses) if isinstance(losses, nn.ModuleList) else [losses]


def _accumulate(losses: dict, name: str, value: Tensor) -> None:
    """``losses[name] += value`` (terms sharing a name are summed)."""
    losses[name] = losses[name] + value if name in losses else value
