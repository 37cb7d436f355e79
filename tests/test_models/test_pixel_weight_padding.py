"""WSSSDataPreProcessor pads gt_pixel_weight (bottom / right) with 0 in
training, whatever sal_pad_val is, and leaves it alone at test time."""
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_wsss  # noqa: F401
from mmseg_wsss.models import WSSSDataPreProcessor
from mmseg_wsss.structures import stack_pixel_weights

KWARGS = dict(
    mean=[0., 0., 0.], std=[1., 1., 1.], pad_val=0, seg_pad_val=255)


def _data(shapes):
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for h, w in shapes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen).byte())
        sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                             ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 5, (1, h, w), generator=gen))
        sample.gt_saliency = PixelData(data=torch.ones(1, h, w))
        sample.gt_pixel_weight = PixelData(
            data=torch.rand(1, h, w, generator=gen) + 0.1)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_pixel_weight_padded_with_zero_in_training():
    data = _data([(5, 7), (8, 6)])
    originals = [s.gt_pixel_weight.data.clone() for s in data['data_samples']]
    out = WSSSDataPreProcessor(size=(9, 10), **KWARGS)(data, training=True)
    for sample, original in zip(out['data_samples'], originals):
        weight = sample.gt_pixel_weight.data
        h, w = original.shape[1:]
        assert weight.shape == (1, 9, 10)
        torch.testing.assert_close(weight[:, :h, :w], original)
        assert (weight[:, h:] == 0).all() and (weight[:, :, w:] == 0).all()
        # the saliency of the same batch keeps its own padding value
        assert (sample.gt_saliency.data[:, h:] == 255).all()
        assert (sample.gt_sem_seg.data[:, h:] == 255).all()
    stacked = stack_pixel_weights(out['data_samples'])
    assert stacked.shape == (2, 9, 10) and stacked.dtype == torch.float32


def test_pixel_weight_not_padded_at_test_time():
    data = _data([(5, 7)])
    out = WSSSDataPreProcessor(**KWARGS)(data, training=False)
    assert out['data_samples'][0].gt_pixel_weight.data.shape == (1, 5, 7)
