import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_wsss.models.utils.cam import max_normalize

K_FG = 20
SIZE = 33


def _model(cfg):
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def _inputs(batch, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, SIZE, SIZE, generator=gen)


def _unlabelled(samples):
    for sample in samples:
        del sample.gt_img_labels
        sample.set_metainfo(dict(img_path=f'photo_{id(sample)}.jpg'))
    return samples


def _count_forwards(model):
    """Record the batch shape of every backbone forward."""
    shapes = []
    extract = model.extract_feat

    def counted(inputs):
        shapes.append(tuple(inputs.shape))
        return extract(inputs)

    model.extract_feat = counted
    return shapes


def test_label_outputs_is_raw_cam_only(cam_classifier_cfg):
    model = _model(cam_classifier_cfg())
    inputs = _inputs(2)
    with torch.no_grad():
        out = model.label_outputs(inputs)
        cam_only = model.label_outputs(inputs, with_decode=False)
        expected = model.decode_head.cam(model.extract_feat(inputs))
    assert set(out) == set(cam_only) == {'cam'}
    assert out['cam'].shape == (2, K_FG, 5, 5)  # output stride 8
    torch.testing.assert_close(out['cam'], expected)
    torch.testing.assert_close(cam_only['cam'], expected)
    assert (out['cam'] < 0).any()  # raw: not ReLU'd, not normalised
    assert not hasattr(model, 'generate_cams')


def test_predict_is_multiscale_flip_cam_of_the_labelled_classes(
        cam_classifier_cfg, wsss_samples):
    scales = (1.0, 0.5)
    model = _model(cam_classifier_cfg(scales=scales, flip=True, bg_thr=0.3))
    inputs = _inputs(2, seed=1)
    samples = wsss_samples(2, SIZE, with_pixels=False)
    shapes = _count_forwards(model)
    with torch.no_grad():
        results = model.predict(inputs, samples)
    # one forward per scale, the flipped copies in the same batch
    assert shapes == [(4, 3, SIZE, SIZE), (4, 3, 16, 16)]
    with torch.no_grad():
        total = 0.
        for scale in scales:
            side = round(SIZE * scale)
            x = F.interpolate(
                inputs, (side, side), mode='bilinear', align_corners=False)
            for flip in (False, True):
                view = x.flip(3) if flip else x
                cam = F.relu(model.decode_head.cam(model.extract_feat(view)))
                cam = cam.flip(3) if flip else cam
                total = total + F.interpolate(
                    cam, (SIZE, SIZE), mode='bilinear', align_corners=False)
    expected = max_normalize(total)
    for i, (result, sample) in enumerate(zip(results, samples)):
        kept = sample.gt_img_labels.bool()
        cam = result.pred_cam.data
        assert cam.shape == (K_FG, SIZE, SIZE)
        torch.testing.assert_close(cam[kept], expected[i][kept])
        assert torch.all(cam[~kept] == 0)
        logits = result.seg_logits.data
        assert torch.all(logits[0] == 0.3)  # the background score
        assert torch.equal(result.pred_sem_seg.data[0], logits.argmax(0))


def test_image_labels_required_by_default_with_a_clear_error(
        cam_classifier_cfg, wsss_samples):
    model = _model(cam_classifier_cfg())
    samples = _unlabelled(wsss_samples(1, SIZE, with_pixels=False))
    path = samples[0].metainfo['img_path']
    with torch.no_grad(), pytest.raises(ValueError) as err:
        model.predict(_inputs(1), samples)
    message = str(err.value)
    assert 'test_cfg.use_img_labels=True' in message and path in message
    assert 'model.test_cfg.use_img_labels=False' in message
    with torch.no_grad(), pytest.raises(ValueError, match='image 0 of'):
        model.predict(_inputs(1))  # no data samples at all


def test_predicted_classes_without_image_labels(cam_classifier_cfg,
                                                wsss_samples):
    model = _model(cam_classifier_cfg(use_img_labels=False))
    inputs = _inputs(2, seed=2)
    with torch.no_grad():
        # labels in the samples are ignored
        results = model.predict(inputs, wsss_samples(2, SIZE))
        bare = model.predict(inputs)
        predicted = model.decode_head(model.extract_feat(inputs)) > 0
    assert predicted.any() and not predicted.all()
    for i, (result, other) in enumerate(zip(results, bare)):
        peaks = result.pred_cam.data.flatten(1).amax(1)
        assert torch.all(peaks[~predicted[i]] == 0)
        assert torch.all(peaks[predicted[i]] > 0)
        torch.testing.assert_close(result.pred_cam.data, other.pred_cam.data)


def test_predict_missing_labels_falls_back_per_image(cam_classifier_cfg,
                                                     wsss_samples):
    inputs = _inputs(2, seed=2)
    samples = wsss_samples(2, SIZE, with_pixels=False)
    model = _model(cam_classifier_cfg(predict_missing_labels=True))
    with torch.no_grad():
        labelled = _model(cam_classifier_cfg()).predict(
            inputs, wsss_samples(2, SIZE, with_pixels=False))
        guessed = _model(
            cam_classifier_cfg(use_img_labels=False)).predict(inputs)
        mixed = model.predict(inputs, [samples[0]] + _unlabelled(samples[1:]))
    # image 0 keeps its labels, image 1 (no labels) the predicted classes
    torch.testing.assert_close(mixed[0].pred_cam.data,
                               labelled[0].pred_cam.data)
    torch.testing.assert_close(mixed[1].pred_cam.data,
                               guessed[1].pred_cam.data)
    assert not torch.equal(labelled[1].pred_cam.data, guessed[1].pred_cam.data)
