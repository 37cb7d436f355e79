"""Fixtures shared across test folders."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

NUM_CLASSES = 21


def make_samples(batch: int, size: int, with_pixels: bool = True,
                 seed: int = 0) -> list:
    """SegDataSamples of ``size`` x ``size`` images, each with two image
    labels (classes ``i + 1`` and ``i + 6``) and, with ``with_pixels``,
    random 21-class pseudo labels and {0, 1} saliency (last 3 rows 255)."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(batch):
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size),
                padding_size=[0, 0, 0, 0]))
        labels = torch.zeros(NUM_CLASSES - 1)
        labels[[i, 5 + i]] = 1.
        sample.set_data(dict(gt_img_labels=labels))
        if with_pixels:
            seg = torch.randint(0, NUM_CLASSES, (1, size, size), generator=gen)
            sal = torch.randint(0, 2, (1, size, size), generator=gen)
            sal[:, -3:] = 255
            sample.gt_sem_seg = PixelData(data=seg)
            sample.gt_saliency = PixelData(data=sal.to(torch.uint8))
        samples.append(sample)
    return samples


@pytest.fixture
def wsss_samples():
    """:func:`make_samples`, for AuxSegNet-style models with 21 classes."""
    return make_samples
