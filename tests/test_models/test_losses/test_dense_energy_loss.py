"""DenseEnergyLoss: the gated dense CRF energy of cosa.md 2.12."""
import logging
import math
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_wsss.models.losses import dense_energy_loss
from mmseg_wsss.models.losses.dense_energy_loss import (
    DenseEnergyLoss, bilateral_features, dense_bilateral_filter)

B, C, H, W = 2, 3, 12, 12
SIGMA_RGB, SIGMA_XY = 15.0, 4.0


def _inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, H, W, generator=gen, dtype=torch.float64)
    images = torch.randint(0, 60, (B, 3, H, W), generator=gen).double()
    roi = torch.ones(B, H, W, dtype=torch.bool)
    roi[0, :, 8:] = False
    label = torch.randint(0, C, (B, H, W), generator=gen)
    label[:, :4, :4] = 255
    label[:, 8:, 6:] = 255  # ignored pixels in and out of the ROI
    return logits, images, roi, label


def _naive_kernel(img, sigma_xy):
    """K_ij pixel pair by pixel pair for a 3 x h x w image."""
    h, w = img.shape[1:]
    rgb = img.reshape(3, -1).T.tolist()
    kernel = np.empty((h * w, h * w))
    for i in range(h * w):
        for j in range(h * w):
            d_xy = (i // w - j // w)**2 + (i % w - j % w)**2
            d_rgb = sum((a - b)**2 for a, b in zip(rgb[i], rgb[j]))
            kernel[i, j] = math.exp(-d_xy / (2 * sigma_xy**2) -
                                    d_rgb / (2 * SIGMA_RGB**2))
    return kernel


def _naive(logits, images, roi, label, factor):
    """cosa.md 2.12 loop by loop on a factor-2 (or 1) downscale.

    Returns the energy and its spec gradient w.r.t. the downscaled
    probabilities, with those probabilities (in the graph of ``logits``).
    """
    probs = logits.softmax(1)
    if factor == 2:  # bilinear / nearest at exactly one half
        probs = F.avg_pool2d(probs, 2)
        images, roi, label = (images[..., ::2, ::2], roi[..., ::2, ::2],
                              label[..., ::2, ::2])
    p = probs.detach().flatten(2).numpy()
    r = roi.flatten(1).double().numpy()
    energy, grad = 0.0, np.zeros_like(p)
    for b in range(len(p)):
        kernel = _naive_kernel(images[b].numpy(), SIGMA_XY / factor)
        masked = p[b] * r[b]
        for i in range(p.shape[2]):
            gate = 1.0 if label[b].flatten()[i] == 255 else max(
                0.0, r[b, i] - p[b, :, i].max())
            filtered_i = [sum(kernel[i, j] * masked[k, j]
                              for j in range(p.shape[2])) for k in range(C)]
            for k in range(C):
                energy -= masked[k, i] * gate * filtered_i[k] / len(p)
                grad[b, k, i] = -2 * gate * filtered_i[k] * r[b, i] / len(p)
    return energy, torch.from_numpy(grad).view_as(probs), probs


def _loss(**kwargs):
    cfg = dict(
        weight=1.0, sigma_rgb=SIGMA_RGB, sigma_xy=SIGMA_XY, backend='exact')
    cfg.update(kwargs)
    return DenseEnergyLoss(**cfg)


@pytest.mark.parametrize('scale_factor', [1.0, 0.5])
def test_energy_and_gradient_match_the_spec_loop_by_loop(scale_factor):
    logits, images, roi, label = _inputs()
    logits.requires_grad_(True)
    loss = _loss(scale_factor=scale_factor, loss_weight=0.5)(logits, images,
                                                             roi, label)
    loss.backward()
    ref_logits = logits.detach().clone().requires_grad_(True)
    energy, grad_p, probs = _naive(ref_logits, images, roi, label,
                                   round(1 / scale_factor))
    torch.testing.assert_close(loss.item(), 0.5 * energy)
    # the spec's dE/dp = -2 g (K p ROI) ROI / B, chained through the
    # downscale and the softmax
    (ref_grad, ) = torch.autograd.grad(probs, ref_logits, 0.5 * grad_p)
    torch.testing.assert_close(logits.grad, ref_grad)


def test_gradient_is_the_spec_not_the_derivative_of_e():
    """A pixel-varying gate: -2 g K P differs from -(g K P + K (g P))."""
    logits, images, roi, label = _inputs()
    label[:] = 0  # no ignored pixel: the gate follows max p
    logits.requires_grad_(True)
    _loss(scale_factor=1.0)(logits, images, roi, label).backward()
    probs = logits.softmax(1).flatten(2)
    valid = roi.flatten(1).double()
    masked = probs * valid[:, None]
    gate = (valid - probs.amax(1)).clamp(min=0).detach()
    feats = bilateral_features(images, SIGMA_RGB, SIGMA_XY)
    energy = -(masked * gate[:, None] *
               dense_bilateral_filter(masked, feats)).sum() / B
    (true_grad, ) = torch.autograd.grad(energy, logits)
    assert not torch.allclose(logits.grad, true_grad)


def test_uniform_gate_gradient_is_the_derivative_of_e():
    """All pixels ignored (g = 1): the spec's gradient is dE/dp."""
    logits, images, roi, label = _inputs()
    label[:] = 255
    logits.requires_grad_(True)
    loss = _loss(scale_factor=1.0)(logits, images, roi, label)
    loss.backward()
    masked = logits.softmax(1).flatten(2) * roi.flatten(1)[:, None]
    feats = bilateral_features(images, SIGMA_RGB, SIGMA_XY)
    energy = -(masked * dense_bilateral_filter(masked, feats)).sum() / B
    (true_grad, ) = torch.autograd.grad(energy, logits)
    torch.testing.assert_close(loss, energy)
    torch.testing.assert_close(logits.grad, true_grad)


def test_agreeing_labels_over_one_colour_lower_the_energy():
    images = torch.full((1, 3, H, W), 128.0, dtype=torch.float64)
    roi = torch.ones(1, H, W)
    label = torch.full((1, H, W), 255)
    same = torch.zeros(1, C, H, W, dtype=torch.float64)
    same[:, 0] = 5
    split = same.clone()
    split[..., W // 2:] = split[..., W // 2:].roll(1, dims=1)
    loss = _loss()
    e_same = loss(same, images, roi, label)
    e_split = loss(split, images, roi, label)
    assert e_same < e_split < 0
    # across a sharp colour edge between the halves, disagreeing is free
    images[..., W // 2:] = 0
    edge_gap = loss(split, images, roi, label) - loss(same, images, roi, label)
    assert abs(edge_gap) < 1e-9 * (e_split - e_same)


def test_pixels_outside_roi_contribute_nothing():
    logits, images, roi, label = _inputs()
    loss = _loss(scale_factor=1.0)
    logits.requires_grad_(True)
    value = loss(logits, images, roi, label)
    value.backward()
    outside = ~roi[:, None].expand_as(logits)
    assert (logits.grad[outside] == 0).all()
    assert logits.grad[~outside].abs().sum() > 0
    changed_logits = logits.detach().clone()
    changed_logits[outside] = 10 * torch.randn(int(outside.sum()),
                                               dtype=torch.float64)
    changed_images = images.clone()
    changed_images[~roi[:, None].expand_as(images)] = 255
    torch.testing.assert_close(
        loss(changed_logits, changed_images, roi, label), value.detach())


def test_ignored_pixels_have_gate_one():
    logits, images, roi, label = _inputs()
    roi[:] = True
    confident = 40 * F.one_hot(label.clamp(max=C - 1), C).permute(
        0, 3, 1, 2).double()
    label = label.clamp(max=C - 1)  # argmax everywhere: gate ~ 0
    loss = _loss(scale_factor=1.0)
    assert abs(loss(confident, images, roi, label).item()) < 1e-9
    label[1, 5, 7] = 255  # one pixel's row of K, gate 1
    masked = confident.softmax(1).flatten(2)
    filtered = dense_bilateral_filter(
        masked, bilateral_features(images, SIGMA_RGB, SIGMA_XY))
    expected = -(masked[1, :, 5 * W + 7] * filtered[1, :, 5 * W + 7]).sum()
    torch.testing.assert_close(
        loss(confident, images, roi, label), expected / B)


def test_weights_scale_the_energy_and_default_is_the_code():
    logits, images, roi, label = _inputs()
    unit = _loss()(logits, images, roi, label)
    scaled = _loss(weight=1e-7, loss_weight=0.05)(logits, images, roi, label)
    torch.testing.assert_close(scaled, unit * 5e-9)
    default = MODELS.build(dict(type='DenseEnergyLoss'))
    assert (default.weight, default.sigma_rgb, default.sigma_xy,
            default.scale_factor) == (1e-7, 15.0, 100.0, 0.5)
    assert default.loss_name == 'loss_reg'
    assert default(logits.float(), images.float(), roi, label).dtype == (
        torch.float32)


def test_chunked_filter_equals_one_chunk(monkeypatch):
    gen = torch.Generator().manual_seed(1)
    values = torch.rand(2, C, 36, generator=gen, dtype=torch.float64)
    feats = torch.rand(2, 36, 5, generator=gen, dtype=torch.float64)
    whole = dense_bilateral_filter(values, feats)
    kernel = torch.exp(-torch.cdist(feats, feats)**2 / 2)
    torch.testing.assert_close(whole, values @ kernel.transpose(1, 2))
    monkeypatch.setattr(dense_energy_loss, 'CHUNK_ELEMENTS', 5 * 36)
    torch.testing.assert_close(dense_bilateral_filter(values, feats), whole)


def test_exact_backend_refuses_too_many_pixels():
    logits, images, roi, label = _inputs()
    assert torch.isfinite(
        _loss(max_exact_pixels=36)(logits, images, roi, label))
    with pytest.raises(ValueError, match=r'6 x 6 = 36 pixels.*'
                       r'max_exact_pixels=35'):
        _loss(max_exact_pixels=35)(logits, images, roi, label)


@pytest.mark.parametrize('what', ['all_ignored', 'empty_roi'])
def test_degenerate_input_is_finite(what):
    logits, images, roi, label = _inputs()
    if what == 'all_ignored':
        label[:] = 255
    else:
        roi[:] = False
    logits.requires_grad_(True)
    loss = _loss()(logits, images, roi, label)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    if what == 'empty_roi':
        assert loss.item() == 0 and (logits.grad == 0).all()


@pytest.mark.parametrize('kwargs, match', [
    (dict(backend='permutohedral'), 'backend'),
    (dict(scale_factor=0.0), 'scale_factor'),
    (dict(scale_factor=1.5), 'scale_factor'),
    (dict(sigma_xy=0.0), 'sigma'),
    (dict(max_exact_pixels=0), 'max_exact_pixels'),
])
def test_bad_config_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DenseEnergyLoss(**kwargs)


def test_bad_input_is_refused():
    logits, images, roi, label = _inputs()
    loss = _loss()
    with pytest.raises(ValueError, match='images must be'):
        loss(logits, images[:, :, :8], roi, label)
    with pytest.raises(ValueError, match='roi must be'):
        loss(logits, images, roi[:, :8], label)
    with pytest.raises(ValueError, match='label must be'):
        loss(logits, images, roi, label[:1])
    with pytest.raises(ValueError, match='shrinks'):
        _loss(scale_factor=0.05)(logits, images, roi, label)


def _fake_lattice(calls):
    """A stand-in for rloss's ``bilateralfilter`` extension: its
    ``bilateralfilter_batch`` contract (flat float32 arrays, images N x 3 x
    H x W, maps N x K x H x W, ``out`` filled in place, features ``(col,
    row) / sigma_xy`` and ``rgb / sigma_rgb``), filtered exactly."""

    def bilateralfilter_batch(images, ins, outs, n, k, h, w, sigma_rgb,
                              sigma_xy):
        # SWIG's numpy typemaps: 1-D float32 arrays, outs written in place
        for array, size in ((images, n * 3 * h * w), (ins, n * k * h * w),
                            (outs, n * k * h * w)):
            assert isinstance(array, np.ndarray) and array.dtype == np.float32
            assert array.ndim == 1 and array.size == size
        assert outs.flags.c_contiguous and outs.flags.writeable
        assert all(type(dim) is int for dim in (n, k, h, w))
        assert type(sigma_rgb) is float and type(sigma_xy) is float
        calls.append((n, k, h, w, sigma_rgb, sigma_xy))
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
        for b in range(n):
            rgb = images[b * 3 * h * w:(b + 1) * 3 * h * w].reshape(3, -1)
            feats = np.concatenate([
                np.stack([cols.ravel(), rows.ravel()]) / sigma_xy,
                rgb / sigma_rgb
            ]).T.astype(np.float64)
            dist = ((feats[:, None] - feats[None])**2).sum(-1)
            maps = ins[b * k * h * w:(b + 1) * k * h * w].reshape(k, -1)
            outs[b * k * h * w:(b + 1) * k * h * w] = (
                maps @ np.exp(-dist / 2).T).ravel()

    return types.SimpleNamespace(bilateralfilter_batch=bilateralfilter_batch)


@pytest.mark.parametrize('scale_factor', [1.0, 0.5])
def test_lattice_backend_passes_the_extension_its_layout(
        monkeypatch, scale_factor):
    """Through a stand-in of the extension (exact, so any layout, scale
    or sigma mistake shows), the lattice backend equals the exact one."""
    calls = []
    monkeypatch.setitem(sys.modules, dense_energy_loss.LATTICE_MODULE,
                        _fake_lattice(calls))
    logits, images, roi, label = _inputs()
    # rows != columns: a transposed image or map shows
    logits, images, roi, label = (logits[..., :10], images[..., :10],
                                  roi[..., :10], label[..., :10])
    results = {}
    for backend in ('lattice', 'exact'):
        leaf = logits.clone().requires_grad_(True)
        loss = _loss(backend=backend, scale_factor=scale_factor,
                     max_exact_pixels=1)
        if backend == 'exact':
            loss.max_exact_pixels = H * W
        value = loss(leaf, images, roi, label)
        value.backward()
        results[backend] = (value.detach(), leaf.grad)
    assert calls == [(B, C, round(H * scale_factor), round(10 * scale_factor),
                      SIGMA_RGB, SIGMA_XY * scale_factor)]
    assert results['lattice'][0].dtype == torch.float64
    # the extension works in float32
    for got, expected in zip(results['lattice'], results['exact']):
        torch.testing.assert_close(
            got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max())


def test_auto_backend_takes_the_lattice_only_when_it_imports(monkeypatch):
    monkeypatch.setitem(sys.modules, dense_energy_loss.LATTICE_MODULE,
                        _fake_lattice([]))
    assert DenseEnergyLoss().backend == 'lattice'
    assert DenseEnergyLoss(backend='exact').backend == 'exact'
    # a None entry makes the import raise ImportError
    monkeypatch.setitem(sys.modules, dense_energy_loss.LATTICE_MODULE, None)
    assert DenseEnergyLoss().backend == 'exact'
    with pytest.raises(ImportError, match="'bilateralfilter' extension"):
        DenseEnergyLoss(backend='lattice')


def test_a_broken_extension_is_reported(monkeypatch, tmp_path):
    """Installed but failing to import (a build without -fopenmp at link
    time): 'auto' warns with the error, 'lattice' raises it."""
    name = dense_energy_loss.LATTICE_MODULE
    (tmp_path / f'{name}.py').write_text(
        "raise ImportError('undefined symbol: GOMP_parallel')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ImportError, match='GOMP_parallel'):
        DenseEnergyLoss(backend='lattice')
    logged = []
    monkeypatch.setattr(dense_energy_loss, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    assert DenseEnergyLoss().backend == 'exact'
    warnings = [msg for msg, kw in logged if kw['level'] == logging.WARNING]
    assert len(warnings) == 2 and 'GOMP_parallel' in warnings[0]
    logged.clear()
    monkeypatch.setitem(sys.modules, name, None)  # not installed: quiet
    assert DenseEnergyLoss().backend == 'exact'
    assert [kw['level'] for _, kw in logged] == [logging.INFO]
