"""Stock decode heads whose loss gets a per-pixel weight from the data
(cosa.md 5 (a): RAW-weighted CE in a stock head)."""
import torch.nn as nn
from mmseg.models.decode_heads import ASPPHead, FCNHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from ...structures import stack_pixel_weights


class PixelWeightedHeadMixin:
    """Pass each sample's ``gt_pixel_weight`` to the head's losses.

    Mixed into a :class:`BaseDecodeHead` subclass (first in the bases), it
    replaces ``loss_by_feat`` by the stock one with one change: every
    ``loss_decode`` term is called with ``weight=`` the stacked
    ``gt_pixel_weight`` (B x H x W, packed by PackWSSSInputs and padded with
    0 by WSSSDataPreProcessor) instead of ``None``. The logits are resized
    to the labels, terms of the same ``loss_name`` are summed and
    ``acc_seg`` is logged as in the stock head. With a pixel ``sampler``
    the weight is the product of the sampler's weight and the pixel weight
    (e.g. OHEM's kept pixels, each weighted by its reliability).

    ``RAWCrossEntropyLoss`` renormalises the weight to mean 1 over the
    labelled pixels of the batch (CoSA's eq. 5, ``sum r CE / sum r``);
    mmseg's ``CrossEntropyLoss`` uses it as is.
    """

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """Compute the pixel-weighted segmentation losses.

        Args:
            seg_logits (Tensor): Head output, B x C x h x w.
            batch_data_samples (list[SegDataSample]): Samples with
                ``gt_sem_seg`` and ``gt_pixel_weight``.

        Returns:
            dict[str, Tensor]: One item per ``loss_name``, and ``acc_seg``.

        Raises:
            KeyError: A sample has no ``gt_pixel_weight``.
            ValueError: The weights are not the labels' size.
        """
        seg_label = self._stack_batch_gt(batch_data_samples)
        seg_weight = stack_pixel_weights(batch_data_samples).to(
            seg_logits.device)
        if seg_weight.shape != seg_label.shape[:1] + seg_label.shape[2:]:
            raise ValueError(
                f'gt_pixel_weight {tuple(seg_weight.shape)} must be the '
                f'size of gt_sem_seg {tuple(seg_label.shape[2:])} (B x H x '
                'W); load it as a seg field before any geometric transform')
        seg_logits = resize(
            input=seg_logits,
            size=seg_label.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        if self.sampler is not None:
            seg_weight = seg_weight * self.sampler.sample(
                seg_logits, seg_label)
        seg_label = seg_label.squeeze(1)
        losses_decode = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        loss = dict()
        for loss_decode in losses_decode:
            value = loss_decode(
                seg_logits,
                seg_label,
                weight=seg_weight,
                ignore_index=self.ignore_index)
            name = loss_decode.loss_name
            loss[name] = loss[name] + value if name in loss else value
        loss['acc_seg'] = accuracy(
            seg_logits, seg_label, ignore_index=self.ignore_index)
        return loss


@MODELS.register_module()
class PWASPPHead(PixelWeightedHeadMixin, ASPPHead):
    """mmseg's ``ASPPHead`` (DeepLabV3) with per-pixel loss weights
    (:class:`PixelWeightedHeadMixin`); same arguments."""


@MODELS.register_module()
class PWFCNHead(PixelWeightedHeadMixin, FCNHead):
    """mmseg's ``FCNHead`` with per-pixel loss weights
    (:class:`PixelWeightedHeadMixin`); same arguments (e.g. as the
    auxiliary head of a :class:`PWASPPHead` model)."""
