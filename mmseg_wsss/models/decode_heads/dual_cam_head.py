from typing import Dict, Optional, Sequence, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.cam import cam_from_features


@MODELS.register_module()
class DualCAMHead(BaseModule):
    """Two independent CAM classifiers, on a final and an earlier feature map
    (CoSA, cosa.md §2.3).

    Each is a bias-free 1x1 conv over the ``num_classes - 1`` foreground
    classes (default PyTorch init). The classification logits pool the
    features *before* the classifier, ``z = W . pool(F)``, so ``z`` is not
    the pooled CAM in general; the CAMs are the raw logits ``M = W * F``
    (no ReLU). Not a decode head: the segmentor computes the losses.

    Args:
        in_channels (int | Sequence[int]): Channels of the final and the
            earlier feature map (one int: both). Default: 768 (ViT-B).
        num_classes (int): Classes including the background (VOC: 21).
        in_index (Sequence[int]): Indices of the final and the earlier map
            in the backbone's output tuple. Default: ``(1, 0)`` (mmseg's
            ``VisionTransformer`` with ``out_indices=(9, 11)``).
        pool (str): ``'max'`` (GMP, CoSA) or ``'avg'`` (GAP).
        init_cfg (dict, optional): Initialization config.

    Raises:
        ValueError: ``num_classes < 2``, an ``in_index`` or ``in_channels``
            that is not two entries, or an unknown ``pool``.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]] = 768,
                 num_classes: int = 21,
                 in_index: Sequence[int] = (1, 0),
                 pool: str = 'max',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        if len(in_channels) != 2:
            raise ValueError('in_channels must be one int or two (final, '
                             f'earlier), got {in_channels}')
        if len(in_index) != 2:
            raise ValueError('in_index must be two indices (final, earlier),'
                             f' got {in_index}')
        if num_classes < 2:
            raise ValueError('num_classes counts the background and at least '
                             f'one foreground class, got {num_classes}')
        if pool not in ('max', 'avg'):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        self.in_channels = tuple(in_channels)
        self.num_classes = num_classes
        self.in_index = tuple(in_index)
        self.pool = pool
        self.classifier = nn.Conv2d(
            in_channels[0], num_classes - 1, kernel_size=1, bias=False)
        self.classifier_aux = nn.Conv2d(
            in_channels[1], num_classes - 1, kernel_size=1, bias=False)

    def _scores(self, feats: Tensor,
                classifier: nn.Conv2d) -> Tuple[Tensor, Tensor]:
        """Logits of the pooled features, B x K, and the CAMs,
        B x K x h x w."""
        pooled = F.adaptive_max_pool2d(feats, 1) if self.pool == 'max' \
            else F.adaptive_avg_pool2d(feats, 1)
        return classifier(pooled).flatten(1), cam_from_features(
            feats, classifier.weight)

    def forward(self, inputs: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Classification logits and raw CAMs of both classifiers.

        Args:
            inputs (Sequence[Tensor]): Backbone outputs; ``in_index`` picks
                the final (F) and earlier (F-dagger) maps, B x C x h x w.

        Returns:
            dict: ``cls_score`` (z) and ``cls_score_aux`` (z-dagger),
            B x (num_classes - 1); ``cam`` (M) and ``cam_aux`` (M-dagger),
            B x (num_classes - 1) x h x w.
        """
        cls_score, cam = self._scores(inputs[self.in_index[0]],
                                      self.classifier)
        cls_score_aux, cam_aux = self._scores(inputs[self.in_index[1]],
                                              self.classifier_aux)
        return dict(
            cls_score=cls_score,
            cls_score_aux=cls_score_aux,
            cam=cam,
            cam_aux=cam_aux)
