import numpy as np
import pytest
import torch

from mmseg_wsss.datasets.transforms import PackWSSSInputs


def sample(**kwargs):
    results = dict(
        img=np.zeros((4, 6, 3), np.uint8),
        img_path='data/JPEGImages/x.jpg',
        img_id='x',
        img_shape=(4, 6),
        ori_shape=(4, 6),
        num_classes=21,
        gt_img_labels=np.eye(20, dtype=np.float32)[3],
        seg_fields=[])
    results.update(kwargs)
    return results


def seg(value=1):
    return np.full((4, 6), value, np.uint8)


def test_packs_labels_saliency_and_meta():
    sal = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    sal_label = np.arange(24, dtype=np.uint8).reshape(4, 6) % 2
    out = PackWSSSInputs()(
        sample(gt_saliency=sal, gt_sal_label=sal_label))
    assert out['inputs'].shape == (3, 4, 6)
    ds = out['data_samples']
    assert ds.gt_img_labels.dtype == torch.float32
    assert ds.gt_img_labels.shape == (20, ) and ds.gt_img_labels[3] == 1
    assert ds.gt_img_labels.sum() == 1
    assert ds.gt_saliency.data.shape == (1, 4, 6)
    assert ds.gt_saliency.data.dtype == torch.float32
    torch.testing.assert_close(ds.gt_saliency.data[0], torch.from_numpy(sal))
    assert ds.gt_sal_label.data.dtype == torch.int64
    assert torch.equal(ds.gt_sal_label.data[0], torch.from_numpy(
        sal_label).long())
    assert ds.img_id == 'x' and ds.img_path == 'data/JPEGImages/x.jpg'
    assert 'gt_sem_seg' not in ds


def test_binarized_saliency_packed_as_float():
    out = PackWSSSInputs()(sample(gt_saliency=np.ones((4, 6), np.uint8)))
    assert out['data_samples'].gt_saliency.data.dtype == torch.float32


def test_refuses_gt_mask_in_training():
    results = sample(
        gt_seg_map=seg(), seg_map_path='data/gt/x.png',
        seg_fields=['gt_seg_map'], allow_gt_masks=False)
    with pytest.raises(ValueError, match=r'x\.jpg.*ground-truth mask'):
        PackWSSSInputs()(results)
    # no allow_gt_masks key at all: refused too
    results.pop('allow_gt_masks')
    with pytest.raises(ValueError, match=r'x\.jpg'):
        PackWSSSInputs()(results)


@pytest.mark.parametrize('flags', [
    dict(allow_gt_masks=True),
    dict(seg_map_is_pseudo=True, pseudo_label_path='pl/x.png')
])
def test_accepts_allowed_or_pseudo_masks(flags):
    out = PackWSSSInputs()(
        sample(gt_seg_map=seg(3), seg_fields=['gt_seg_map'], **flags))
    gt = out['data_samples'].gt_sem_seg.data
    assert gt.dtype == torch.int64 and gt.shape == (1, 4, 6)
    assert torch.all(gt == 3)


def test_refuses_gt_loaded_after_pseudo_label():
    with pytest.raises(ValueError, match='loaded twice'):
        PackWSSSInputs()(
            sample(gt_seg_map=seg(), seg_map_is_pseudo=True,
                   seg_fields=['gt_seg_map', 'gt_seg_map']))


def test_refuses_label_values_out_of_range():
    label = seg(0)
    label[0, 0] = 21
    label[0, 1] = 255
    with pytest.raises(ValueError, match=r'gt/x\.png.*\[21\]'):
        PackWSSSInputs()(
            sample(gt_seg_map=label, seg_map_path='gt/x.png',
                   seg_fields=['gt_seg_map'], allow_gt_masks=True))
