"""CoSA: weakly supervised co-training with swapping assignments."""
import logging
from numbers import Real
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import (BaseAveragedModel, BaseModule,
                            ExponentialMovingAverage)
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import (ConfigType, OptConfigType, OptMultiConfig,
                         OptSampleList, SampleList)
from torch import Tensor, nn

from ...pseudo_labels.online import (cam_pseudo_labels, perplexity,
                                     soft_segmentation_labels)
from ...structures import IGNORE_INDEX, stack_img_labels
from ..utils.cam import (cam_from_features, cam_to_seg_logits,
                         mask_absent_classes, minmax_normalize)
from ..utils.images import denormalize
from ..losses import RAWCrossEntropyLoss
from ..utils.multiscale import multiscale_flip
from .test_time import TestTimeAugMixin, check_merge, resolve_crf

#: The ``test_cfg`` keys :class:`CoSA` reads.
TEST_CFG_KEYS = ('mode', 'net', 'scales', 'flip', 'merge',
                 'mask_absent_classes', 'output', 'cam_scales',
                 'bg_threshold', 'crf')
#: ``test_cfg.net``: the network that segments.
NETS = ('assignment', 'online')
#: ``test_cfg.output``: segmentation, or the CAM labels of M' / M-dagger'.
OUTPUTS = ('seg', 'cam', 'cam_aux')
#: ``s2c_detach``: where the Seg-to-CAM gradient is stopped (cosa.md 4).
S2C_DETACH = (None, 'features', 'classifier')
#: The CRF of the CoSA code (cosa.md 2.14).
COSA_CRF = dict(
    num_iters=1, pos_sxy=1, pos_compat=1, bi_sxy=121, bi_srgb=5, bi_compat=4)


class AssignmentEMA(ExponentialMovingAverage):
    """mmengine's :class:`ExponentialMovingAverage` with ``momentum`` in
    [0, 1].

    ``theta' <- (1 - momentum) theta' + momentum theta`` after the first
    update (which copies). mmengine's class refuses 0 and 1; CoSA's ablation
    "w/o SA" is ``momentum=1`` (AN is ON after every update, cosa.md 7.15)
    and 0 keeps the first copy.

    Args:
        model (nn.Module): The online network.
        momentum (float): Weight of the online parameters.

    Raises:
        ValueError: ``momentum`` outside [0, 1].
    """

    def __init__(self, model: nn.Module, momentum: float = 0.0006):
        if not 0 <= momentum <= 1:
            raise ValueError(f'momentum must be in [0, 1], got {momentum}')
        BaseAveragedModel.__init__(self, model)
        self.momentum = momentum


class CoSANet(BaseModule):
    """One CoSA network: backbone, dual CAM head and segmentation head.

    The online network (ON) and the assignment network (AN, its EMA) are two
    instances (cosa.md 2.2-2.5).

    Args:
        backbone (dict): Backbone config; two outputs (earlier, final).
        decode_head (dict): Segmentation head (a ``BaseDecodeHead``; its
            ``loss_decode`` is not used: :class:`CoSA` computes the losses).
        cam_head (dict): :class:`DualCAMHead` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 cam_head: ConfigType,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg)
        self.backbone = MODELS.build(backbone)
        self.decode_head = MODELS.build(decode_head)
        self.cam_head = MODELS.build(cam_head)

    def forward(self, inputs: Tensor, with_seg: bool = True) -> dict:
        """Run the network.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            with_seg (bool): Also run the segmentation head.

        Returns:
            dict: ``feats`` (the backbone outputs) and the
            :class:`DualCAMHead` outputs ``cls_score`` / ``cls_score_aux``
            (B x C_f), ``cam`` / ``cam_aux`` (raw CAMs, B x C_f x h x w),
            plus ``seg`` (logits, B x C x h x w) with ``with_seg``.
        """
        feats = self.backbone(inputs)
        out = dict(self.cam_head(feats), feats=feats)
        if with_seg:
            out['seg'] = self.decode_head(feats)
        return out


@MODELS.register_module()
class CoSA(TestTimeAugMixin, BaseSegmentor):
    """CoSA (ECCV 2024): an online network taught by its EMA.

    Training (cosa.md 1.1, 2.6-2.13) takes 6-channel inputs, the weak view
    (channels 0-2) and the strong view (3-5) of the same crop
    (``WeakStrongViews``). The assignment network AN (``assignment``, an
    :class:`AssignmentEMA` of ``online``, updated by
    :class:`EMAAssignmentHook`) sees the weak view at ``pseudo_scales`` and
    their flips and makes the CAM pseudo labels (CPL, eq. 3) of both CAMs
    and the soft segmentation labels (SPL, eq. 7). The online network ON
    sees the strong view and is trained by:

    - ``loss_cls`` / ``loss_cls_aux``: multi-label soft margin on both
      classifiers (eq. 1);
    - ``loss_c2s`` / ``loss_c2s_aux``: its segmentation against the two CPLs,
      RAW-weighted (eq. 4-5) with ``raw_weighting``; ``aux_c2s_reduce='mean'``
      halves both (the released code);
    - ``loss_s2c``: its CAM against the SPL (eq. 8);
    - ``loss_csc``: contrastive separation of its CAM on the confident
      regions of AN's earlier CAM (eq. 9-10), optional;
    - ``loss_reg``: the released code's dense energy, optional.

    The thresholds come from two ``GMMThresholdTracker`` modules
    (``threshold`` for M', ``threshold_aux`` for M-dagger'), refitted by
    ``GMMThresholdHook``. Until ``seg_loss_enabled`` (set by
    :class:`LossWarmupHook`) only the classification losses train; AN runs
    only when the pseudo-label losses are on or ``seg_loss_upcoming`` (the
    hook's ``lead``: the threshold queue fills before they start).

    Inference (``test_cfg``, cosa.md 1.3, 2.14; the defaults are one scale,
    no flip, the protocol's; the paper's five scales and flips are set by
    the VOC / COCO configs):

    - ``mode`` (str): ``'whole'`` only.
    - ``net`` (str): ``'assignment'`` (default) or ``'online'``.
    - ``scales`` (Sequence[float]), ``flip`` (bool), ``merge`` (str): the
      views of :class:`TestTimeAugMixin`; ``merge='logit'`` (the default
      here) sums the views' logits as the paper does, so the optional
      CRF's unary is the code's ``softmax`` of the sum.
      The paper's 448 x 448 resize is the test pipeline's ``Resize``.
    - ``mask_absent_classes`` (bool): logits of the classes absent from
      ``gt_img_labels`` set to -1e5 (the paper's protocol; reported
      separately). Default False.
    - ``output`` (str): ``'seg'``; ``'cam'`` / ``'cam_aux'``: the chosen
      network's CAM labels (``cam_scales`` and flips, min-max normalised,
      masked by ``gt_img_labels``, background below ``bg_threshold``), for
      the CPL quality. ``bg_threshold``: a number in (0, 1) (default 0.5)
      or ``'tracked'``, the threshold the network's tracker (``threshold``
      for ``'cam'``, ``threshold_aux`` for ``'cam_aux'``) holds, i.e. the
      CPL threshold of the checkpoint's last training iteration (single
      threshold modes only; a ``'gmm2'`` tracker never fitted, e.g. of a
      checkpoint not loaded, gives its ``init_xi`` and warns once).
    - ``crf`` (bool | dict): dense CRF, True for the code's
      :data:`COSA_CRF`.

    Args:
        backbone (dict): Backbone with two outputs (earlier, final).
        decode_head (dict): Segmentation head on the final output.
        cam_head (dict): ``DualCAMHead``.
        ema_momentum (float): mmengine momentum of AN (weight of ON):
            ``1 - m``, 0.0006 for the paper's ``m = 0.9994``; 1.0 makes AN a
            copy of ON ("w/o SA").
        threshold (dict): ``GMMThresholdTracker`` of M'.
        threshold_aux (dict, optional): Tracker of M-dagger'; a copy of
            ``threshold`` by default.
        loss_cls (dict): Classification loss (both classifiers).
        loss_c2s (dict): CAM-to-segmentation loss (both CPLs); called with
            ``confidence`` and ``threshold`` when ``raw_weighting``.
        raw_weighting (bool): RAW weights (False: "w/o RAW", w = 1).
        aux_c2s_reduce (str): ``'sum'`` (paper) or ``'mean'`` (code).
        loss_s2c (dict, optional): Seg-to-CAM loss (None: vanilla CAMs,
            the CAM-to-segmentation baseline).
        spl_tau (float): SPL temperature (eq. 7).
        s2c_detach (str, optional): Stop the Seg-to-CAM gradient at the
            ``'features'`` or the ``'classifier'`` (Tab. 4a rows).
        loss_csc (dict, optional): Contrastive separation loss.
        loss_reg (dict, optional): Dense energy regulariser.
        pseudo_scales (Sequence[float]): AN's scales (with flips).
        aux_last_scale_only (bool): M-dagger' from the last scale only (the
            released code's behaviour).
        freeze_pos_embed (bool): Freeze the backbone's ``pos_embed``.
        train_cfg (dict, optional): Unused.
        test_cfg (dict, optional): See above.
        data_preprocessor (dict, optional): ``WSSSDataPreProcessor``.
        pretrained (str, optional): Backbone weights, set as the backbone's
            ``pretrained`` as :class:`EncoderDecoder` does (mmseg's
            ``init_model`` passes None).
        init_cfg (dict, optional): Initialisation config.

    Raises:
        ValueError: A bad option or ``test_cfg`` key (checked at build and at
            every :meth:`predict`).
    """

    default_crf = COSA_CRF

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 cam_head: ConfigType,
                 ema_momentum: float = 0.0006,
                 threshold: ConfigType = dict(type='GMMThresholdTracker'),
                 threshold_aux: OptConfigType = None,
                 loss_cls: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_name='loss_cls'),
                 loss_c2s: ConfigType = dict(
                     type='RAWCrossEntropyLoss', loss_weight=0.1),
                 raw_weighting: bool = True,
                 aux_c2s_reduce: str = 'sum',
                 loss_s2c: OptConfigType = dict(
                     type='Seg2CAMLoss', loss_weight=0.05),
                 spl_tau: float = 0.01,
                 s2c_detach: Optional[str] = None,
                 loss_csc: OptConfigType = dict(
                     type='ContrastiveSeparationLoss', loss_weight=0.1),
                 loss_reg: OptConfigType = None,
                 pseudo_scales: Sequence[float] = (1.0, 0.5, 1.5),
                 aux_last_scale_only: bool = False,
                 freeze_pos_embed: bool = True,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None):
        if aux_c2s_reduce not in ('sum', 'mean'):
            raise ValueError("aux_c2s_reduce must be 'sum' or 'mean', got "
                             f'{aux_c2s_reduce!r}')
        if s2c_detach not in S2C_DETACH:
            raise ValueError(f's2c_detach must be one of {S2C_DETACH}, got '
                             f'{s2c_detach!r}')
        if spl_tau <= 0:
            raise ValueError(f'spl_tau must be > 0, got {spl_tau}')
        if (isinstance(pseudo_scales, (str, Real)) or not pseudo_scales
                or any(not isinstance(s, Real) or s <= 0
                       for s in pseudo_scales)):
            raise ValueError('pseudo_scales must be positive numbers, got '
                             f'{pseudo_scales!r}')
        self.test_cfg = test_cfg or {}
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if pretrained is not None:
            backbone = dict(backbone, pretrained=pretrained)
        self.online = CoSANet(backbone, decode_head, cam_head)
        if freeze_pos_embed and hasattr(self.online.backbone, 'pos_embed'):
            self.online.backbone.pos_embed.requires_grad_(False)
        self.assignment = AssignmentEMA(self.online, ema_momentum)
        self.threshold = MODELS.build(threshold)
        self.threshold_aux = MODELS.build(threshold_aux or threshold)
        self._unfitted_warned = set()
        self._check_test_cfg()
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_c2s = MODELS.build(loss_c2s)
        if raw_weighting and not isinstance(self.loss_c2s,
                                            RAWCrossEntropyLoss):
            raise ValueError(
                'raw_weighting=True needs loss_c2s=RAWCrossEntropyLoss (it '
                f'takes the CPL confidences), got {type(self.loss_c2s).__name__}'
                '; set raw_weighting=False for another loss')
        self.loss_s2c = MODELS.build(loss_s2c) if loss_s2c else None
        self.loss_csc = MODELS.build(loss_csc) if loss_csc else None
        self.loss_reg = MODELS.build(loss_reg) if loss_reg else None
        self.raw_weighting = raw_weighting
        self.aux_c2s_reduce = aux_c2s_reduce
        self.spl_tau = spl_tau
        self.s2c_detach = s2c_detach
        self.pseudo_scales = tuple(pseudo_scales)
        self.aux_last_scale_only = aux_last_scale_only
        self.train_cfg = train_cfg
        self.align_corners = self.online.decode_head.align_corners
        self.num_classes = self.online.decode_head.num_classes
        self.out_channels = self.online.decode_head.out_channels
        self.seg_loss_enabled = True
        self.seg_loss_upcoming = False

    def _check_test_cfg(self) -> None:
        """Refuse unknown ``test_cfg`` keys and bad values."""
        cfg = self.test_cfg
        unknown = sorted(set(cfg) - set(TEST_CFG_KEYS))
        if unknown:
            raise ValueError(f'CoSA: unknown test_cfg keys {unknown}; known: '
                             f'{TEST_CFG_KEYS}')
        if cfg.get('mode', 'whole') != 'whole':
            raise ValueError("CoSA: test_cfg.mode must be 'whole', got "
                             f"{cfg['mode']!r}")
        if cfg.get('net', 'assignment') not in NETS:
            raise ValueError(f'CoSA: test_cfg.net must be one of {NETS}, got '
                             f"{cfg['net']!r}")
        if cfg.get('output', 'seg') not in OUTPUTS:
            raise ValueError(f'CoSA: test_cfg.output must be one of '
                             f"{OUTPUTS}, got {cfg['output']!r}")
        for key in ('scales', 'cam_scales'):
            scales = cfg.get(key, (1.0, ))
            if (isinstance(scales, (str, Real)) or not scales
                    or not all(isinstance(s, Real) and s > 0
                               for s in scales)):
                raise ValueError(f'CoSA: test_cfg.{key} must be a non-empty '
                                 f'sequence of positive numbers, got '
                                 f'{scales!r}')
        for key in ('flip', 'mask_absent_classes'):
            if not isinstance(cfg.get(key, False), bool):
                raise ValueError(f'CoSA: test_cfg.{key} must be True or '
                                 f'False, got {cfg[key]!r}')
        bg_threshold = cfg.get('bg_threshold', 0.5)
        if isinstance(bg_threshold, str) and bg_threshold == 'tracked':
            trackers = (self.threshold, self.threshold_aux)
            if any(tracker.is_dual for tracker in trackers):
                raise ValueError(
                    "CoSA: test_cfg.bg_threshold='tracked' needs single "
                    'thresholds; the trackers are dual: give a number')
        elif not (isinstance(bg_threshold, Real) and 0 < bg_threshold < 1):
            raise ValueError('CoSA: test_cfg.bg_threshold must be in (0, 1) '
                             f"or 'tracked', got {bg_threshold!r}")
        check_merge(cfg.get('merge', 'logit'))
        resolve_crf(cfg.get('crf'), self.default_crf)

    def _tracked_threshold(self, output: str) -> float:
        """The threshold ``output``'s tracker holds (``bg_threshold=
        'tracked'``). A fitting (``'gmm2'``) tracker never fitted holds its
        initial threshold: warns once per tracker."""
        name = 'threshold' if output == 'cam' else 'threshold_aux'
        tracker = getattr(self, name)
        if (tracker.threshold_mode != 'fixed' and int(tracker.num_fits) == 0
                and name not in self._unfitted_warned):
            self._unfitted_warned.add(name)
            print_log(
                f"CoSA: test_cfg.bg_threshold='tracked': {name} was never "
                f'fitted (an untrained or unloaded checkpoint?); using its '
                f'initial threshold {tracker.current()}',
                logger='current',
                level=logging.WARNING)
        return tracker.current()

    @property
    def backbone(self) -> nn.Module:
        """The online network's backbone."""
        return self.online.backbone

    @property
    def decode_head(self) -> nn.Module:
        """The online network's segmentation head."""
        return self.online.decode_head

    @property
    def assignment_net(self) -> CoSANet:
        """The assignment network (AN) itself."""
        return self.assignment.module

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        """The online backbone's outputs."""
        return self.online.backbone(inputs)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """The online network's segmentation logits, B x C x h x w."""
        return self.online(inputs)['seg']

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Segmentation logits of ``test_cfg.net`` at the input size.

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            batch_img_metas (list[dict]): Their metas.

        Returns:
            Tensor: B x C x H x W.
        """
        seg = self._test_net()(inputs)['seg']
        return F.interpolate(
            seg,
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """:meth:`encode_decode` (one whole-image pass)."""
        return self.encode_decode(inputs, batch_img_metas)

    def _test_net(self) -> CoSANet:
        net = self.test_cfg.get('net', 'assignment')
        return self.assignment.module if net == 'assignment' else self.online

    @torch.no_grad()
    def multiscale_outputs(self,
                           net: CoSANet,
                           images: Tensor,
                           img_labels: Tensor,
                           scales: Sequence[float],
                           with_seg: bool = True) -> Dict[str, Tensor]:
        """CAMs and segmentation of ``net`` over scales and flips (eq. 2).

        cosa.md 2.6: per scale, one pass over the images and their flips;
        the two CAMs of a scale are fused by their element-wise maximum,
        ReLU'd and summed over the scales, then min-max normalised per
        image and class and masked by ``img_labels``; the segmentation
        logits of all passes are averaged. Everything is resized bilinearly
        to the input size. ``net`` runs in eval mode.

        Args:
            net (CoSANet): AN or ON.
            images (Tensor): Normalised images, B x 3 x H x W.
            img_labels (Tensor): Multi-hot labels, B x C_f.
            scales (Sequence[float]): Image scales.
            with_seg (bool): Also return ``seg``.

        Returns:
            dict: ``cam`` (M') and ``cam_aux`` (M-dagger'), B x C_f x H x W in
            [0, 1]; ``seg``, B x C x H x W mean logits, with ``with_seg``.
        """
        num_fg = img_labels.shape[1]
        last = len(scales) - 1
        counter = iter(range(len(scales)))
        was_training = net.training
        net.eval()

        def passes(batch: Tensor) -> Tensor:
            out = net(batch, with_seg=with_seg)
            maps = [out['cam'], out['cam_aux']]
            if with_seg:
                maps.append(out['seg'])
            if len({m.shape[2:] for m in maps}) > 1:
                # outputs of different strides: each straight to the image
                # size (multiscale_flip's resize is then the identity)
                maps = [
                    F.interpolate(
                        m,
                        size=images.shape[2:],
                        mode='bilinear',
                        align_corners=False) for m in maps
                ]
            return torch.cat(maps, dim=1)

        def fold(total: Optional[Tensor], views: Tensor) -> Tensor:
            index = next(counter)
            cams = views[:, :, :2 * num_fg].amax(dim=0).relu()
            if self.aux_last_scale_only and index != last:
                cams[:, num_fg:] = 0
            part = torch.cat([cams, views[:, :, 2 * num_fg:].sum(dim=0)], 1)
            return part if total is None else total + part

        total = multiscale_flip(passes, images, fold, scales, flip=True)
        net.train(was_training)
        cams = mask_absent_classes(
            minmax_normalize(total[:, :2 * num_fg]), img_labels.repeat(1, 2))
        out = dict(cam=cams[:, :num_fg], cam_aux=cams[:, num_fg:])
        if with_seg:
            out['seg'] = total[:, 2 * num_fg:] / (2 * len(scales))
        return out

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """CoSA's losses of one batch (eq. 11, cosa.md 2.13).

        Args:
            inputs (Tensor): Weak and strong views, B x 6 x H x W.
            data_samples (list[SegDataSample]): With ``gt_img_labels``;
                ``img_shape`` is each image's valid box (the preprocessor
                pads bottom / right).

        Returns:
            dict: The losses (weighted) and ``cpl_fg_ratio`` /
            ``mean_perplexity`` of the CPL (logged).

        Raises:
            ValueError: ``inputs`` does not have 6 channels, or the image
                labels are not ``num_classes - 1`` long.
        """
        if inputs.shape[1] != 6:
            raise ValueError(
                'CoSA trains on the weak and strong views of a crop stacked '
                f'as 6 channels (WeakStrongViews), got {inputs.shape[1]}')
        weak, strong = inputs[:, :3], inputs[:, 3:]
        img_labels = stack_img_labels(data_samples).to(inputs)
        if img_labels.shape[1] != self.num_classes - 1:
            raise ValueError(
                f'gt_img_labels must be multi-hot over the '
                f'{self.num_classes - 1} foreground classes (num_classes='
                f'{self.num_classes} counts the background), got length '
                f'{img_labels.shape[1]}')
        valid = self._valid_mask(data_samples, inputs.shape[2:], inputs.device)
        out = self.online(strong)
        losses = dict(
            loss_cls=self.loss_cls(out['cls_score'], img_labels),
            loss_cls_aux=self.loss_cls(out['cls_score_aux'], img_labels))
        if self.seg_loss_enabled or self.seg_loss_upcoming:
            pseudo = self.multiscale_outputs(
                self.assignment.module,
                weak,
                img_labels,
                self.pseudo_scales,
                with_seg=self.seg_loss_enabled
                and self.loss_s2c is not None)
            xi, xi_aux = self.threshold.current(), self.threshold_aux.current()
            self.threshold.enqueue(pseudo['cam'], valid)
            self.threshold_aux.enqueue(pseudo['cam_aux'], valid)
        if not self.seg_loss_enabled:
            # keep the decoder in the graph (DDP)
            losses['loss_cls'] = losses['loss_cls'] + 0 * out['seg'].sum()
            return losses
        seg = F.interpolate(
            out['seg'],
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        cpl, conf = cam_pseudo_labels(pseudo['cam'], xi, valid)
        cpl_aux, conf_aux = cam_pseudo_labels(pseudo['cam_aux'], xi_aux, valid)
        scale = 0.5 if self.aux_c2s_reduce == 'mean' else 1.0
        losses['loss_c2s'] = scale * self._c2s(seg, cpl, conf, xi)
        losses['loss_c2s_aux'] = scale * self._c2s(seg, cpl_aux, conf_aux,
                                                   xi_aux)
        if self.loss_s2c is not None:
            spl = soft_segmentation_labels(pseudo['seg'], img_labels,
                                           self.spl_tau)
            losses['loss_s2c'] = self.loss_s2c(self._s2c_cam(out), spl, valid)
        if self.loss_csc is not None:
            losses['loss_csc'] = self.loss_csc(out['cam'], pseudo['cam_aux'],
                                               img_labels, xi_aux, valid)
        if self.loss_reg is not None:
            images = denormalize(strong, self.data_preprocessor) * 255
            losses['loss_reg'] = self.loss_reg(seg, images, valid, cpl)
        labelled = cpl != IGNORE_INDEX
        losses['cpl_fg_ratio'] = ((cpl > 0) & labelled).sum() / (
            labelled.sum().clamp_min(1))
        lambdas = [
            getattr(self.loss_c2s, name, default)
            for name, default in (('lambda_alpha', 0.8), ('lambda_beta', 1.0))
        ]
        losses['mean_perplexity'] = perplexity(conf, xi, *lambdas)[
            labelled].mean() if labelled.any() else conf.new_zeros(())
        return losses

    def _c2s(self, seg: Tensor, cpl: Tensor, conf: Tensor,
             xi: Union[float, Tuple[float, float]]) -> Tensor:
        """``loss_c2s`` of one CPL, RAW-weighted with ``raw_weighting``."""
        if self.raw_weighting:
            return self.loss_c2s(seg, cpl, confidence=conf, threshold=xi)
        return self.loss_c2s(seg, cpl)

    def _s2c_cam(self, out: dict) -> Tensor:
        """ON's final CAM for ``loss_s2c``, with ``s2c_detach`` applied."""
        if self.s2c_detach is None:
            return out['cam']
        head = self.online.cam_head
        feats = out['feats'][head.in_index[0]]
        weight = head.classifier.weight
        if self.s2c_detach == 'features':
            feats = feats.detach()
        else:
            weight = weight.detach()
        return cam_from_features(feats, weight)

    @staticmethod
    def _valid_mask(data_samples: SampleList, size: Tuple[int, int],
                    device: torch.device) -> Tensor:
        """B x H x W bool: True inside each sample's ``img_shape``."""
        valid = torch.zeros((len(data_samples), *size),
                            dtype=torch.bool,
                            device=device)
        for mask, sample in zip(valid, data_samples):
            height, width = sample.metainfo['img_shape'][:2]
            mask[:height, :width] = True
        return valid

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Segment with ``test_cfg`` (see the class docstring).

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            data_samples (list[SegDataSample], optional): Their samples
                (``gt_img_labels`` for ``mask_absent_classes`` and the CAM
                outputs).

        Returns:
            list[SegDataSample]: With ``seg_logits`` and ``pred_sem_seg``.

        Raises:
            ValueError: A bad ``test_cfg``, an input that is not 3-channel,
                or a CAM output / ``mask_absent_classes`` without data
                samples.
            KeyError: A sample without ``gt_img_labels`` for them.
        """
        self._check_test_cfg()
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise ValueError(
                'CoSA segments B x 3 x H x W images, got shape '
                f'{tuple(inputs.shape)} (the 6-channel weak || strong input of '
                'WeakStrongViews is for training only)')
        cfg = self.test_cfg
        metas = self._img_metas(inputs, data_samples)
        output = cfg.get('output', 'seg')
        needs_labels = output != 'seg' or cfg.get('mask_absent_classes',
                                                 False)
        img_labels = None
        if needs_labels:
            if data_samples is None:
                raise ValueError(
                    f"CoSA: test_cfg output={output!r} / mask_absent_classes "
                    'needs data samples with gt_img_labels')
            img_labels = stack_img_labels(data_samples).to(inputs)
        if output != 'seg':
            cams = self.multiscale_outputs(
                self._test_net(),
                inputs,
                img_labels,
                cfg.get('cam_scales', self.pseudo_scales),
                with_seg=False)[output]
            bg_threshold = cfg.get('bg_threshold', 0.5)
            if isinstance(bg_threshold, str):
                bg_threshold = self._tracked_threshold(output)
            seg_logits = cam_to_seg_logits(cams, bg_threshold)
        else:
            scales = tuple(cfg.get('scales', (1.0, )))
            flip = cfg.get('flip', False)
            if scales == (1.0, ) and not flip:
                seg_logits = self.inference(inputs, metas)
            else:
                merge = cfg.get('merge', 'logit')
                seg_logits = self.tta_logits(inputs, metas, scales, flip,
                                             merge)
                if merge == 'logit':
                    # the paper's logit sum (cosa.md 1.3): the mean's
                    # argmax, and the code's CRF unary softmax(sum)
                    views = len(scales) * (2 if flip else 1)
                    seg_logits = seg_logits * views
            if img_labels is not None:
                absent = torch.cat(
                    [img_labels.new_ones(len(img_labels), 1), img_labels],
                    dim=1) == 0
                seg_logits = seg_logits.masked_fill(absent[..., None, None],
                                                    -1e5)
        results = self.postprocess_result(seg_logits, data_samples)
        crf = resolve_crf(cfg.get('crf'), self.default_crf)
        if crf is not None:
            for result in results:
                self._apply_crf(result, crf)
        return results
