"""A stock mmseg decode head used as a feature extractor.

Methods that put their own module in front of the classifier of any stock
head (AuxSegNet+'s ``branch``, CIAN's wrapper) run the head's ``forward``
with its classifier replaced by a pass-through.
"""
import inspect
from typing import List, Tuple

import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor


class FeatureTap(nn.Module):
    """Parameter-free stand-in for a head's ``conv_seg``: passes its input
    through and records it in ``taken``."""

    def __init__(self):
        super().__init__()
        self.taken: List[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.taken.append(x)
        return x


class StockHeadFeatures(nn.Module):
    """A stock mmseg decode head's ``forward`` without its classifier.

    The head's ``conv_seg`` is replaced by a :class:`FeatureTap`, so its own
    ``forward`` (whatever it runs before ``cls_seg``: non-local blocks,
    PPM, FPN, ...) gives the B x ``channels`` x h x w features. The head
    must be built with ``dropout_ratio=0``: the classifier dropout belongs
    to the owner's classifier.

    Args:
        head (BaseDecodeHead): The stock head.

    Raises:
        TypeError: ``head`` is not a :class:`BaseDecodeHead`, has no
            ``conv_seg`` conv, overrides ``cls_seg`` or its ``forward``
            needs more than the backbone features (cascade heads).
        ValueError: ``head`` has classifier dropout.
    """

    def __init__(self, head: BaseDecodeHead):
        super().__init__()
        name = type(head).__name__
        if not isinstance(head, BaseDecodeHead):
            raise TypeError(f'{name} is not a BaseDecodeHead')
        if not isinstance(getattr(head, 'conv_seg', None), nn.Conv2d):
            raise TypeError(f'{name} has no conv_seg classifier: its forward '
                            'does not end in cls_seg')
        if type(head).cls_seg is not BaseDecodeHead.cls_seg:
            raise TypeError(f'{name} overrides cls_seg')
        required = [
            p for p in inspect.signature(head.forward).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                   p.POSITIONAL_OR_KEYWORD)
        ]
        if len(required) != 1:
            raise TypeError(f'{name}.forward takes '
                            f'{[p.name for p in required]}, not only the '
                            'backbone features')
        if head.dropout is not None:
            raise ValueError(f'{name}: set dropout_ratio=0 (the classifier '
                             'dropout is the owner head\'s dropout_ratio)')
        head.conv_seg = FeatureTap()
        # heads that apply self.dropout in their own forward (ANNHead)
        head.dropout = nn.Identity()
        self.head = head

    @property
    def channels(self) -> int:
        """Channels of the features."""
        return self.head.channels

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """The features the head classifies, B x channels x h x w.

        Raises:
            RuntimeError: The head's ``forward`` does not return
                ``cls_seg(features)`` (it calls ``cls_seg`` more than once,
                or changes or bundles its output).
        """
        tap = self.head.conv_seg
        tap.taken = []
        out = self.head(inputs)
        taken, tap.taken = tap.taken, []
        if len(taken) != 1 or out is not taken[0]:
            raise RuntimeError(
                f'{type(self.head).__name__}.forward does not return '
                f'cls_seg(features) ({len(taken)} cls_seg calls, output '
                f'{type(out).__name__}): it cannot be a feature branch')
        return out
