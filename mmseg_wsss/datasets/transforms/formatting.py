"""Packing of WSSS samples: image labels, saliency, guarded seg maps."""
from typing import Sequence

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

from .loading import check_label_values

WSSS_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                  'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                  'reduce_zero_label', 'img_id')


def to_pixel_data(arr: np.ndarray, dtype: torch.dtype) -> PixelData:
    """An ``H x W`` (or ``C x H x W``) array as PixelData ``C x H x W``."""
    tensor = torch.from_numpy(np.ascontiguousarray(arr)).to(dtype)
    if tensor.ndim == 2:
        tensor = tensor[None]
    return PixelData(data=tensor)


@TRANSFORMS.register_module()
class PackWSSSInputs(PackSegInputs):
    """PackSegInputs plus image labels and saliency, refusing GT masks in
    weakly supervised training.

    Packs, besides PackSegInputs' ``inputs``, ``gt_sem_seg`` and meta:
    ``gt_img_labels`` (float tensor ``[C-1]``), ``gt_saliency`` (PixelData
    ``1 x H x W`` float), ``gt_sal_label`` (PixelData ``1 x H x W``; int64
    for an integer map, float otherwise) and ``gt_pixel_weight`` (PixelData
    ``1 x H x W`` float, a per-pixel loss weight such as CoSA's reliability),
    each when present in the results.

    A ``gt_seg_map`` is packed only if it is a pseudo label
    (``seg_map_is_pseudo``, set by LoadPseudoLabel) or the dataset allows GT
    masks (``allow_gt_masks``: test mode or the fully supervised upper
    bound); otherwise this raises, naming the image. With ``num_classes`` in
    the results, label values outside ``0..C-1`` and 255 are refused too.

    Args:
        meta_keys (Sequence[str]): Meta keys to pack. Defaults to
            PackSegInputs' plus ``'img_id'``.
    """

    def __init__(self, meta_keys: Sequence[str] = WSSS_META_KEYS) -> None:
        super().__init__(meta_keys=meta_keys)

    @staticmethod
    def _check_seg_map(results: dict) -> None:
        """Raise if ``gt_seg_map`` is a GT mask that must not be packed, or
        holds values outside the label space."""
        img_path = results.get('img_path')
        is_pseudo = results.get('seg_map_is_pseudo', False)
        if not results.get('allow_gt_masks', False):
            if not is_pseudo:
                raise ValueError(
                    f'{img_path}: refusing to pack the ground-truth mask '
                    f'{results.get("seg_map_path")} in a weakly supervised '
                    'pipeline. Use LoadPseudoLabel for pseudo labels, or set '
                    'allow_gt_masks=True on the dataset for the fully '
                    'supervised upper bound (test_mode datasets allow GT).')
            if results.get('seg_fields', []).count('gt_seg_map') > 1:
                raise ValueError(
                    f'{img_path}: gt_seg_map was loaded twice (a GT loader '
                    'after LoadPseudoLabel?); refusing a map that may be the '
                    'ground truth')
        if results.get('num_classes') is not None:
            source = results.get('pseudo_label_path') if is_pseudo else \
                results.get('seg_map_path', img_path)
            check_label_values(results['gt_seg_map'], results['num_classes'],
                               source)

    def transform(self, results: dict) -> dict:
        """Pack the inputs and the data sample.

        Args:
            results (dict): Result dict from the data pipeline.

        Returns:
            dict: ``inputs`` (tensor ``3 x H x W``) and ``data_samples``
            (SegDataSample).
        """
        if 'gt_seg_map' in results:
            self._check_seg_map(results)
        packed = super().transform(results)
        data_sample = packed['data_samples']
        if 'gt_img_labels' in results:
            data_sample.set_data(
                dict(
                    gt_img_labels=torch.as_tensor(
                        np.asarray(results['gt_img_labels']),
                        dtype=torch.float32)))
        if 'gt_saliency' in results:
            data_sample.set_data(
                dict(
                    gt_saliency=to_pixel_data(results['gt_saliency'],
                                              torch.float32)))
        if 'gt_sal_label' in results:
            sal_label = np.asarray(results['gt_sal_label'])
            dtype = torch.float32 if np.issubdtype(
                sal_label.dtype, np.floating) else torch.int64
            data_sample.set_data(
                dict(gt_sal_label=to_pixel_data(sal_label, dtype)))
        if 'gt_pixel_weight' in results:
            data_sample.set_data(
                dict(
                    gt_pixel_weight=to_pixel_data(results['gt_pixel_weight'],
                                                  torch.float32)))
        return packed
