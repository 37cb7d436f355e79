"""Batch helpers over :class:`SegDataSample` fields the WSSS methods add.

``gt_img_labels`` is a multi-hot float tensor over the ``C - 1`` foreground
classes (index ``c - 1`` is class ``c``); ``gt_saliency`` a ``PixelData``
holding a 1 x H x W saliency map or label; ``gt_pixel_weight`` a
``PixelData`` holding a 1 x H x W per-pixel loss weight. Pixel labels use 0
for background, ``1..C-1`` for the classes and :data:`IGNORE_INDEX` for
ignored pixels.
"""
import torch
from mmseg.utils import SampleList
from torch import Tensor

IGNORE_INDEX = 255


def stack_img_labels(batch_data_samples: SampleList) -> Tensor:
    """Stack ``gt_img_labels`` of the samples.

    Args:
        batch_data_samples (list[SegDataSample]): Samples packed by
            ``PackWSSSInputs`` from data with image-level labels.

    Returns:
        Tensor: B x (C - 1) float multi-hot labels.

    Raises:
        KeyError: A sample has no ``gt_img_labels`` (named by its image).
    """
    for sample in batch_data_samples:
        if 'gt_img_labels' not in sample:
            raise KeyError(
                f"data sample of {sample.metainfo.get('img_path', '?')} has "
                'no gt_img_labels; add LoadImageLevelLabels and '
                'PackWSSSInputs to the pipeline')
    return torch.stack(
        [sample.gt_img_labels.float() for sample in batch_data_samples])


def stack_saliency(batch_data_samples: SampleList) -> Tensor:
    """Stack ``gt_saliency`` of the samples.

    Args:
        batch_data_samples (list[SegDataSample]): Samples packed from a
            pipeline with ``LoadSaliencyMap``.

    Returns:
        Tensor: B x H x W saliency maps or labels (255 where padded).

    Raises:
        KeyError: A sample has no ``gt_saliency`` (named by its image).
    """
    for sample in batch_data_samples:
        if 'gt_saliency' not in sample:
            raise KeyError(
                f"{sample.metainfo.get('img_path', '?')}: no gt_saliency; "
                'add LoadSaliencyMap to the training pipeline')
    return torch.stack(
        [sample.gt_saliency.data[0] for sample in batch_data_samples])


def stack_pixel_weights(batch_data_samples: SampleList) -> Tensor:
    """Stack ``gt_pixel_weight`` of the samples.

    Args:
        batch_data_samples (list[SegDataSample]): Samples packed from a
            pipeline with a pixel weight (e.g. ``ComputeRAWReliability``)
            and padded by ``WSSSDataPreProcessor``.

    Returns:
        Tensor: B x H x W float weights (0 where padded).

    Raises:
        KeyError: A sample has no ``gt_pixel_weight`` (named by its image).
        ValueError: The samples' weights differ in size (not padded).
    """
    for sample in batch_data_samples:
        if 'gt_pixel_weight' not in sample:
            raise KeyError(
                f"{sample.metainfo.get('img_path', '?')}: no "
                'gt_pixel_weight; add LoadCAMConfidence and '
                'ComputeRAWReliability to the training pipeline')
    weights = [sample.gt_pixel_weight.data[0] for sample in batch_data_samples]
    sizes = {tuple(w.shape) for w in weights}
    if len(sizes) > 1:
        raise ValueError(f'gt_pixel_weight sizes differ in a batch: '
                         f'{sorted(sizes)}; pad them with '
                         'WSSSDataPreProcessor')
    return torch.stack(weights).float()
