from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from ...structures import stack_img_labels
from ..utils.cam import cam_from_features


@MODELS.register_module()
class CAMHead(BaseDecodeHead):
    """Image classifier whose weights give class activation maps.

    Global pooling (average or max) of the selected feature map, then a
    bias-free linear classifier over the ``num_classes - 1`` foreground
    classes (``conv_seg``, a 1x1 conv, so the same weights give the CAMs).

    As a stock mmseg head: :meth:`loss` trains on ``gt_img_labels`` (an
    ``auxiliary_head`` of any ``EncoderDecoder``); :meth:`predict` gives
    ``num_classes`` maps (``out_channels``), so ``'whole'`` and ``'slide'``
    inference work in a stock ``EncoderDecoder``. The normalised CAM
    segmentation of the WSSS protocol is :class:`CAMClassifier`'s.

    Args:
        pool (str): ``'avg'`` (GAP) or ``'max'`` (GMP).
        **kwargs: :class:`BaseDecodeHead` arguments; ``channels`` defaults to
            ``in_channels`` and ``num_classes`` counts the background.

    Raises:
        ValueError: Unknown ``pool``, ``channels != in_channels`` or
            ``out_channels`` other than ``num_classes``.
    """

    def __init__(self, pool: str = 'avg', **kwargs):
        kwargs.setdefault('channels', kwargs.get('in_channels'))
        super().__init__(**kwargs)
        if pool not in ('avg', 'max'):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        if self.in_channels != self.channels:
            raise ValueError('CAMHead classifies the backbone features '
                             'directly: channels must equal in_channels')
        if self.out_channels != self.num_classes:
            raise ValueError(
                'CAMHead predicts num_classes maps (a background score and '
                f'the {self.num_classes - 1} CAMs): out_channels must be '
                f'None or num_classes, got {self.out_channels}')
        self.pool = pool
        self.conv_seg = nn.Conv2d(
            self.channels, self.num_classes - 1, kernel_size=1, bias=False)

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """Classification logits, B x (num_classes - 1)."""
        x = self._transform_inputs(inputs)
        x = F.adaptive_avg_pool2d(x, 1) if self.pool == 'avg' else \
            F.adaptive_max_pool2d(x, 1)
        return self.cls_seg(x).flatten(1)

    def cam(self, inputs: Tuple[Tensor]) -> Tensor:
        """Raw CAMs, B x (num_classes - 1) x h x w."""
        return cam_from_features(
            self._transform_inputs(inputs), self.conv_seg.weight)

    def loss_by_feat(self, cls_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """Multi-label loss of B x K logits against ``gt_img_labels``."""
        labels = stack_img_labels(batch_data_samples).to(cls_logits.device)
        losses = dict()
        loss_decodes = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for loss_decode in loss_decodes:
            losses[loss_decode.loss_name] = losses.get(
                loss_decode.loss_name, 0) + loss_decode(cls_logits, labels)
        with torch.no_grad():
            correct = ((cls_logits > 0) == (labels > 0)).float()
            losses['acc_cls'] = correct.mean() * 100
        return losses

    def predict(self, inputs: Tuple[Tensor], batch_img_metas: List[dict],
                test_cfg: dict) -> Tensor:
        """The classifier at every position, resized to the input,
        B x K x H x W.

        Channel 0 is a zero background score, channel ``c`` the raw CAM of
        class ``c`` (a logit whose decision threshold is 0): the argmax is
        the strongest class with a positive CAM, background where there is
        none. Raw CAMs are linear in the features, so ``'slide'`` windows
        average consistently.
        """
        cam = self.cam(inputs)
        seg_logits = torch.cat([cam.new_zeros(cam[:, :1].shape), cam], dim=1)
        return self.predict_by_feat(seg_logits, batch_img_metas)
