"""What a generator is, and what it asks of a model."""
import os.path as osp
from abc import ABCMeta, abstractmethod
from typing import Sequence

import numpy as np
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ...utils.io import read_saliency


class BaseLabelGenerator(metaclass=ABCMeta):
    """Makes the pseudo labels of one image with a model.

    A generator is registered in mmseg's ``TASK_UTILS`` and built from a
    config (``label_generator = dict(type=...)``), so the offline tool
    (``tools/make_pseudo_labels.py``) and the stage-wise
    ``PseudoLabelUpdateHook`` run any method's generator the same way;
    :func:`~mmseg_wsss.pseudo_labels.write_pseudo_labels` iterates, shards
    and writes.

    **Model interface.** A generator reads a model only through
    ``model.label_outputs(inputs, with_decode=True) -> dict`` (documented
    on :class:`~mmseg_wsss.models.segmentors.PseudoLabelSource`): ``cam``,
    raw CAMs B x K x h x w, always; ``affinity`` (B x N x N), ``sal``
    (B x 1 x h x w logit) and ``seg`` (B x C x h x w logits) when
    ``with_decode`` and the model has them. The one exception,
    :class:`~mmseg_wsss.pseudo_labels.SegmentationLabelGenerator`, labels
    with a segmentor's own test-time prediction (``inference`` of any
    ``EncoderDecoder``).

    Subclasses set :attr:`updates_saliency` when they also return a
    saliency label, and implement :meth:`__call__`.
    """

    #: The result has ``sal``, a new saliency label (H x W uint8).
    updates_saliency = False

    @abstractmethod
    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_sample: SegDataSample, data_info: dict) -> dict:
        """Label one image.

        Args:
            model (nn.Module): The model, in eval mode, under ``no_grad``.
            inputs (Tensor): The normalised image, 1 x 3 x H x W.
            data_sample (SegDataSample): Its sample, with ``gt_img_labels``.
            data_info (dict): Its dataset entry (``img_path``, ``sal_path``,
                ``sal_label_path`` after a saliency update).

        Returns:
            dict: ``label`` (H x W uint8: 0 background, 1..C-1, 255
            ignore), ``cam`` (K x H x W float32) and, with
            :attr:`updates_saliency`, ``sal`` (H x W uint8, 255 salient).
        """


def image_saliency(data_info: dict,
                   shape: Sequence[int],
                   updated: bool = False) -> np.ndarray:
    """An image's saliency map as H x W floats in [0, 1].

    Args:
        data_info (dict): Dataset entry with ``sal_path`` (the off-the-shelf
            map) and, after a saliency update, ``sal_label_path``.
        shape (Sequence[int]): The image's H, W.
        updated (bool): Prefer the updated saliency label when there is one.

    Raises:
        KeyError: The dataset has no saliency maps.
        ValueError: The map's size is not the image's (names the file).
    """
    path = data_info.get('sal_label_path') if updated else None
    path = path or data_info.get('sal_path')
    if path is None:
        raise KeyError(f"{data_info.get('img_path')}: no saliency map; set "
                       'saliency_dir on the dataset')
    sal = read_saliency(path)
    if sal.shape != tuple(shape):
        raise ValueError(f'saliency map {path} is {sal.shape[0]}x'
                         f'{sal.shape[1]} (HxW), the image '
                         f"{osp.basename(data_info.get('img_path', '?'))} is "
                         f'{shape[0]}x{shape[1]}')
    return sal
