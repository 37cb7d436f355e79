"""WS-FCN / SSSS: single-stage segmentation from image labels."""
from numbers import Real
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from ...structures import stack_img_labels
from ..utils.images import denormalize
from ..utils.multiscale import multiscale_flip, sum_views
from .pseudo_label_source import PseudoLabelSource
from .test_time import logits_crf, resolve_crf, result_image

#: ``test_cfg.bg_mode``: WS-FCN's constant, SSSS's power, or unchanged.
BG_MODES = ('const', 'pow', 'none')
#: The ``test_cfg`` keys :class:`WSFCN` reads.
TEST_CFG_KEYS = ('mode', 'crop_size', 'stride', 'scales', 'flip', 'pad_size',
                 'fp_cut_score', 'use_gt_labels', 'bg_mode', 'bg_value',
                 'bg_pow', 'crf', 'crf_bg_pow')
#: The CRF of the WS-FCN code (wsfcn.md 2.11).
WSFCN_CRF = dict(
    num_iters=10,
    pos_sxy=3,
    pos_compat=3,
    bi_sxy=30,
    bi_srgb=13,
    bi_compat=10)


@MODELS.register_module()
class WSFCN(PseudoLabelSource, EncoderDecoder):
    """WS-FCN (TNNLS 2023) and SSSS (CVPR 2020), trained from image labels.

    ``decode_head`` is an :class:`FCASF2Head`. :meth:`loss` hands it the
    de-normalised images (PAMR and the pseudo GT need them);
    ``seg_loss_enabled`` (set by :class:`LossWarmupHook`) switches its
    segmentation loss.

    Inference: :meth:`encode_decode` gives the softmax masks, so the stock
    ``test_cfg=dict(mode='whole')`` (or ``'slide'``) works. ``mode='wsss_msf'``
    is the papers' procedure (wsfcn.md 1.3), with the ``test_cfg`` keys:

    - ``scales`` (Sequence[float]): image scales (bicubic), default
      ``(1.0,)``; the paper: ``(1, 0.5, 1.5, 2)``.
    - ``flip`` (bool): add horizontally flipped passes. Default False.
    - ``pad_size`` (tuple[int, int], optional): every pass is padded
      (centred, zeros in normalised space) to this size; the paper: 1024 x
      1024. Default None.
    - ``fp_cut_score`` (float, optional): foreground channels of the classes
      whose maximum sigmoid class score over the passes is not above this
      are zeroed (0.1). None keeps every class.
    - ``use_gt_labels`` (bool): zero the classes absent from
      ``gt_img_labels`` instead (the papers' "§" protocol, reported
      separately). Default False.
    - ``bg_mode`` (str): background channel replaced by ``bg_value``
      (``'const'``, WS-FCN, 0.25), raised to ``bg_pow`` (``'pow'``, SSSS,
      3), or kept (``'none'``).
    - ``crf`` (bool | dict, optional): dense CRF on the mean of the masked
      foreground masks with the background ``(1 - max_c v_c) **
      crf_bg_pow`` (``crf_bg_pow``, default 5): True for the code's
      :data:`WSFCN_CRF`, a dict of :func:`dense_crf` arguments over it.
      Default None.

    The masks of a pass are upsampled to the (padded) input with the head's
    ``align_corners`` (True in the configs, as the code). The result's
    ``seg_logits`` are the merged masks (not logits).

    Raises:
        ValueError: An unknown ``test_cfg`` key or a bad value (checked at
            build and at every :meth:`predict`).
    """

    #: ``test_cfg.crf=True``: the WS-FCN code's CRF.
    default_crf = WSFCN_CRF

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_test_cfg()

    def _check_test_cfg(self) -> None:
        """Refuse unknown ``test_cfg`` keys and bad values."""
        test_cfg = self.test_cfg or {}
        unknown = sorted(set(test_cfg) - set(TEST_CFG_KEYS))
        if unknown:
            raise ValueError(f'WSFCN: unknown test_cfg keys {unknown}; known: '
                             f'{TEST_CFG_KEYS}')
        if test_cfg.get('mode', 'whole') not in ('whole', 'slide', 'wsss_msf'):
            raise ValueError("test_cfg.mode must be 'whole', 'slide' or "
                             f"'wsss_msf', got {test_cfg['mode']!r}")
        if test_cfg.get('bg_mode', 'none') not in BG_MODES:
            raise ValueError(f'test_cfg.bg_mode must be one of {BG_MODES}, '
                             f"got {test_cfg['bg_mode']!r}")
        scales = test_cfg.get('scales', (1.0, ))
        if (isinstance(scales, (str, Real)) or not scales or
                not all(isinstance(s, Real) and s > 0 for s in scales)):
            raise ValueError('test_cfg.scales must be a non-empty sequence of '
                             f'positive numbers, got {scales!r}')
        pad_size = test_cfg.get('pad_size')
        if pad_size is not None and not (
                isinstance(pad_size, (list, tuple)) and len(pad_size) == 2
                and all(isinstance(p, int) and p > 0 for p in pad_size)):
            raise ValueError('test_cfg.pad_size must be None or (height, '
                             f'width) in pixels, got {pad_size!r}')

    @property
    def seg_loss_enabled(self) -> bool:
        """Whether the decode head's self-supervised loss is on."""
        return self.decode_head.seg_loss_enabled

    @seg_loss_enabled.setter
    def seg_loss_enabled(self, enabled: bool) -> None:
        self.decode_head.seg_loss_enabled = enabled

    def denormalize(self, inputs: Tensor) -> Tensor:
        """Images in [0, 1] from normalised ``inputs``
        (:func:`~mmseg_wsss.models.utils.denormalize`)."""
        return denormalize(inputs, self.data_preprocessor)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of the decode head (``decode.loss_cls``,
        ``decode.loss_seg``).

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            data_samples (list[SegDataSample]): With ``gt_img_labels``.

        Returns:
            dict[str, Tensor]: The head's losses, ``decode.`` prefixed.
        """
        x = self.extract_feat(inputs)
        losses = self.decode_head.loss(
            x, data_samples, self.train_cfg,
            images=self.denormalize(inputs))
        return {f'decode.{name}': value for name, value in losses.items()}

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Softmax masks at the input size, B x C x H x W."""
        return super().encode_decode(inputs, batch_img_metas).softmax(dim=1)

    def label_outputs(self,
                      inputs: Tensor,
                      with_decode: bool = True) -> Dict[str, Tensor]:
        """:meth:`PseudoLabelSource.label_outputs`: ``cam`` are the
        foreground logits at /4 and ``seg`` all C logits (the constant
        background at channel 0)."""
        logits = self.decode_head(self.extract_feat(inputs))
        out = dict(cam=logits[:, 1:])
        if with_decode:
            out['seg'] = logits
        return out

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Predict with ``test_cfg`` (see the class doc).

        Args:
            inputs (Tensor): Normalised images, B x 3 x H x W.
            data_samples (list[SegDataSample], optional): Their samples;
                ``use_gt_labels`` needs their ``gt_img_labels``, ``crf``
                their ``img_path``.

        Returns:
            list[SegDataSample]: With ``seg_logits`` and ``pred_sem_seg``.
        """
        self._check_test_cfg()
        if self.test_cfg.get('mode', 'whole') != 'wsss_msf':
            return super().predict(inputs, data_samples)
        scores = []
        masks = multiscale_flip(
            lambda images: self._pass_masks(images, scores),
            inputs,
            sum_views,
            scales=tuple(self.test_cfg.get('scales', (1.0, ))),
            flip=self.test_cfg.get('flip', False),
            img_mode='bicubic')
        num_passes = sum(len(s) for s in scores) // len(inputs)
        masks = masks / num_passes
        keep = self._kept_classes(
            torch.cat(scores).unflatten(0, (-1, len(inputs))), data_samples)
        masks = torch.cat([masks[:, :1], masks[:, 1:] * keep[..., None, None]],
                          dim=1)
        results = self.postprocess_result(
            self._set_background(masks), data_samples)
        crf = resolve_crf(self.test_cfg.get('crf'), self.default_crf)
        if crf is not None:
            for result in results:
                self._apply_crf(result, crf)
        return results

    def _pass_masks(self, images: Tensor, scores: List[Tensor]) -> Tensor:
        """Masks of one pass at the size of ``images``; appends the class
        scores, N x (C - 1), to ``scores``."""
        height, width = images.shape[2:]
        pad_size = self.test_cfg.get('pad_size')
        top = left = 0
        if pad_size is not None:
            pad_h, pad_w = pad_size
            if pad_h < height or pad_w < width:
                raise ValueError(
                    f'test_cfg.pad_size {tuple(pad_size)} is smaller than a '
                    f'scaled image ({height} x {width}); raise it or set it '
                    'to None')
            top, left = (pad_h - height) // 2, (pad_w - width) // 2
            images = F.pad(images, (left, pad_w - width - left, top,
                                    pad_h - height - top))
        logits = self.decode_head(self.extract_feat(images))
        scores.append(self.decode_head.class_scores(logits))
        masks = F.interpolate(
            logits.softmax(dim=1),
            size=images.shape[2:],
            mode='bilinear',
            align_corners=self.decode_head.align_corners)
        return masks[:, :, top:top + height, left:left + width]

    def _kept_classes(self, scores: Tensor,
                      data_samples: OptSampleList) -> Tensor:
        """Multi-hot B x (C - 1) of the classes kept in the merged masks.

        Args:
            scores (Tensor): Class scores of every pass, P x B x (C - 1).
            data_samples (list[SegDataSample], optional): For
                ``use_gt_labels``.
        """
        if self.test_cfg.get('use_gt_labels', False):
            if data_samples is None:
                raise ValueError('test_cfg.use_gt_labels needs data samples '
                                 'with gt_img_labels')
            return stack_img_labels(data_samples).to(scores)
        cut = self.test_cfg.get('fp_cut_score', 0.1)
        if cut is None:
            return scores.new_ones(scores.shape[1:])
        return (scores.sigmoid().amax(dim=0) > cut).to(scores)

    def _set_background(self, masks: Tensor) -> Tensor:
        """Apply ``test_cfg.bg_mode`` to channel 0 of B x C x H x W masks."""
        mode = self.test_cfg.get('bg_mode', 'none')
        if mode == 'const':
            bg = torch.full_like(masks[:, :1],
                                 self.test_cfg.get('bg_value', 0.25))
        elif mode == 'pow':
            bg = masks[:, :1].pow(self.test_cfg.get('bg_pow', 3))
        else:
            return masks
        return torch.cat([bg, masks[:, 1:]], dim=1)

    def _apply_crf(self, result, crf: dict) -> None:
        """Dense CRF of one result on its image file (wsfcn.md 2.11)."""
        fg = result.seg_logits.data[1:].detach()
        bg = (1 - fg.amax(dim=0, keepdim=True)).clamp_min(0).pow(
            self.test_cfg.get('crf_bg_pow', 5))
        # the log of the (unnormalised) probabilities: logits_crf softmaxes
        log_probs = torch.cat([bg, fg]).clamp_min(1e-8).log()
        posterior = logits_crf(result_image(result), log_probs, crf)
        result.set_data(
            dict(
                seg_logits=PixelData(data=posterior),
                pred_sem_seg=PixelData(
                    data=posterior.argmax(dim=0, keepdim=True))))
