import numpy as np
import pytest

from mmseg_wsss.pseudo_labels import (LABEL_RULES, cam_saliency_seeds,
                                      cam_to_label, fuse_cam_saliency)


def test_cam_to_label():
    cam = np.array([[[0.1, 0.5, 0.3]], [[0.15, 0.4, 0.3]]])
    assert cam_to_label(cam, 0.2).tolist() == [[0, 1, 1]]  # tie -> lowest
    assert cam_to_label(cam, 0.45).tolist() == [[0, 1, 0]]


def _auxsegnet_example():
    c1 = [[.9, .9, .1, 0], [.5, .5, .1, 0], [.15, .25, 0, 0], [0, 0, 0, .3]]
    c2 = np.ones((4, 4))
    c3 = [[.1, .9, .8, 0], [.5, .1, .7, 0], [0, .1, 0, 0], [0, 0, 0, .3]]
    sal = [[.9, .9, .9, .9], [.9, .9, .05, .01], [.9, .9, .04, .07],
           [0, .5, 0, .9]]
    labels = np.array([1, 0, 1])
    cam = np.stack([c1, c2, c3]).astype(np.float64) * labels[:, None, None]
    return cam, np.array(sal)


def test_fuse_cam_saliency_spec_example():
    """auxsegnet_plus.md section 8, property 10."""
    cam, sal = _auxsegnet_example()
    expect = [[1, 1, 3, 255], [1, 1, 255, 0], [255, 1, 0, 255],
              [0, 255, 0, 1]]
    assert fuse_cam_saliency(cam, sal, 0.2, 0.06).tolist() == expect


def test_fuse_cam_saliency_strict_thresholds():
    cam = np.array([[[0.2, 0.0]]])
    sal = np.array([[0.9, 0.06]])
    assert fuse_cam_saliency(cam, sal, 0.2, 0.06).tolist() == [[255, 0]]


def test_fuse_never_outputs_absent_class():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 0, 1])
    cam = rng.random((4, 16, 16)) * labels[:, None, None]
    out = fuse_cam_saliency(cam, rng.random((16, 16)))
    assert set(np.unique(out)) <= {0, 255, 2, 4}


def test_cian_seeds_rule():
    # pixels: one class+salient, none+non-salient, class+non-salient,
    # none+salient, two classes+salient
    cam = np.array([[[0.5, 0.1, 0.5, 0.1, 0.6]],
                    [[0.1, 0.1, 0.1, 0.1, 0.5]]])
    sal = np.array([[0.9, 0.01, 0.01, 0.9, 0.9]])
    assert cam_saliency_seeds(cam, sal).tolist() == [[1, 0, 255, 255, 255]]
    assert cam_saliency_seeds(cam, sal, overlap='argmax').tolist() == \
        [[1, 0, 255, 255, 1]]
    with pytest.raises(ValueError, match='overlap'):
        cam_saliency_seeds(cam, sal, overlap='first')


def test_rules_are_registered_by_name():
    assert LABEL_RULES.get('threshold') is cam_to_label
    assert LABEL_RULES.get('auxsegnet') is fuse_cam_saliency
    assert LABEL_RULES.get('cian') is cam_saliency_seeds
