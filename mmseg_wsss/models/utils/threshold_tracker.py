"""The dynamic CAM threshold of CoSA: a Gaussian mixture over a queue of
recent CAM confidences (cosa.md 2.9, paper eq. 6)."""
import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce
from mmseg.registry import MODELS
from torch import Tensor

MODES = ('gmm2', 'gmm3', 'fixed')
GMM3_START = (0.25, 0.7)  # the released code's dual threshold
GMM3_EMA = 0.99
XI_RANGE = (0.05, 0.95)  # gmm2's clamp
# a sample is valid when the bilinear weights it takes from valid pixels
# sum to 1 (up to this)
VALID_TOL = 1e-3


@MODELS.register_module()
class GMMThresholdTracker(nn.Module):
    """A CAM threshold refitted from the confidences of recent iterations.

    Every iteration :meth:`enqueue` adds the batch's CAM confidences (per
    image, each class map downsampled by ``downsample``, max over classes)
    to a ring buffer of the last ``queue_len`` iterations; :meth:`refit`
    (called by ``GMMThresholdHook`` after the iteration) fits a 1-D Gaussian
    mixture to the queue, so the threshold :meth:`current` returns at
    iteration ``t`` comes from the queue up to ``t - 1``. Until
    ``min_queued`` iterations are queued it is the initial one.

    Modes (cosa.md 2.9):

    - ``'gmm2'`` (paper): two components by EM (initial means the 10th /
      90th percentiles, variances the sample variance, weights 1/2; later
      fits warm-start from the previous one), then the hard split of the
      sorted samples into the smaller-mean component (below) and the other
      (above) that maximises the log-likelihood
      ``sum_{x<xi} log(pi_bg N(x|bg)) + sum_{x>=xi} log(pi_fg N(x|fg))``;
      where splits tie (no samples between them) the one nearest the
      crossing of the two weighted densities is taken. Clamped to
      [0.05, 0.95]; EMA ``xi <- xi_ema * xi + (1 - xi_ema) * xi_new``.
    - ``'gmm3'`` (released code): three components started afresh at the
      (min, median, max) sample, variance 1, weights 1/3; samples are
      hard-assigned, ``lo`` = largest sample of the lowest-mean component,
      ``hi`` = smallest sample of the highest-mean component; EMA 0.99
      from ``dual_threshold`` (default (0.25, 0.7)). Always dual.
    - ``'fixed'``: ``init_xi``, or ``dual_threshold=(lo, hi)``; nothing is
      queued or fitted.

    Samples are kept as histograms: each iteration's entry is the count of
    samples in ``num_bins`` equal bins over ``(filter_thre, 1]`` (values
    above 1 count in the last bin). An enqueue is one ``scatter_add_`` (and,
    under distributed training, one ``all_reduce`` SUM, so the entry is the
    union over ranks and every rank holds the same queue and fits the same
    threshold); EM runs on the bin centres weighted by their counts, in
    float64 on the CPU, and the hard split is a cumulative sum over the
    bins. Hence thresholds are bin edges: their resolution is the bin width
    ``(1 - filter_thre) / num_bins`` (0.00095 by default; gmm3's ``lo`` is
    the upper edge of its component's last bin, ``hi`` the lower edge of
    the first), and a refit costs the same for any batch or crop size:
    about 1 ms on one CPU thread, under 4 ms if EM runs all 100 steps
    (``bench/gmm_threshold.py``).

    The queue, the thresholds, the fitted mixture and the counters are
    persistent buffers: a checkpoint restores the tracker exactly.

    Args:
        threshold_mode (str): ``'gmm2'``, ``'gmm3'`` or ``'fixed'``.
        queue_len (int): Iterations kept in the queue (Q).
        init_xi (float): Threshold before the first fit (gmm2), or the fixed
            threshold; in (0, 1).
        filter_thre (float): Samples ``<= filter_thre`` (and NaN) are
            ignored; in [0, 1).
        downsample (int): Downsampling factor of the class maps.
        dual_threshold (tuple[float, float], optional): ``(lo, hi)``, the
            fixed dual threshold (``'fixed'``) or gmm3's start; ``0 <= lo
            < hi < 1``. Not for gmm2.
        xi_ema (float, optional): EMA decay of the threshold in [0, 1);
            None: the mode's own (gmm2 0.0, gmm3 0.99).
        min_queued (int): Iterations queued before the first fit, in
            [1, queue_len].
        num_bins (int): Histogram bins (>= 2).
        max_iter (int): EM steps per fit at most.
        tol (float): EM stops when the mean log-likelihood changes less.
        min_variance (float): Variance floor of every component.

    Raises:
        ValueError: An argument outside the range above.
    """

    def __init__(self,
                 threshold_mode: str = 'gmm2',
                 queue_len: int = 100,
                 init_xi: float = 0.5,
                 filter_thre: float = 0.05,
                 downsample: int = 16,
                 dual_threshold: Optional[Sequence[float]] = None,
                 xi_ema: Optional[float] = None,
                 min_queued: int = 10,
                 num_bins: int = 1000,
                 max_iter: int = 100,
                 tol: float = 1e-5,
                 min_variance: float = 1e-4):
        super().__init__()
        if threshold_mode not in MODES:
            raise ValueError(f'threshold_mode must be one of {MODES}, got '
                             f'{threshold_mode!r}')
        _check_int('queue_len', queue_len, 1)
        _check_int('downsample', downsample, 1)
        _check_int('num_bins', num_bins, 2)
        _check_int('max_iter', max_iter, 1)
        _check_int('min_queued', min_queued, 1)
        if min_queued > queue_len:
            raise ValueError(f'min_queued must be <= queue_len ({queue_len}),'
                             f' got {min_queued}')
        if not 0 < init_xi < 1:
            raise ValueError(f'init_xi must be in (0, 1), got {init_xi}')
        if not 0 <= filter_thre < 1:
            raise ValueError(
                f'filter_thre must be in [0, 1), got {filter_thre}')
        if xi_ema is not None and not 0 <= xi_ema < 1:
            raise ValueError(f'xi_ema must be in [0, 1), got {xi_ema}')
        if not tol > 0 or not min_variance > 0:
            raise ValueError('tol and min_variance must be > 0, got '
                             f'{tol} and {min_variance}')
        if dual_threshold is not None:
            if threshold_mode == 'gmm2':
                raise ValueError(
                    'dual_threshold is for the modes fixed and gmm3; gmm2 '
                    f'fits a single threshold, got {dual_threshold}')
            if (len(dual_threshold) != 2
                    or not 0 < dual_threshold[0] <= dual_threshold[1] < 1):
                raise ValueError('dual_threshold must be (lo, hi) with 0 < '
                                 f'lo <= hi < 1 (the CPL rule, eq. 3), got '
                                 f'{dual_threshold}')
        self.threshold_mode = threshold_mode
        self.queue_len = queue_len
        self.init_xi = init_xi
        self.filter_thre = filter_thre
        self.downsample = downsample
        self.min_queued = min_queued
        self.num_bins = num_bins
        self.max_iter = max_iter
        self.tol = tol
        self.min_variance = min_variance
        self.is_dual = (threshold_mode == 'gmm3'
                        or dual_threshold is not None)
        if xi_ema is None:
            xi_ema = GMM3_EMA if threshold_mode == 'gmm3' else 0.0
        self.xi_ema = xi_ema
        if threshold_mode == 'gmm3' and dual_threshold is None:
            dual_threshold = GMM3_START
        start = (tuple(dual_threshold)
                 if dual_threshold is not None else (init_xi, init_xi))
        components = dict(gmm2=2, gmm3=3, fixed=0)[threshold_mode]
        self.register_buffer('queue',
                             torch.zeros(queue_len, num_bins,
                                         dtype=torch.long))
        self.register_buffer('num_enqueued', torch.zeros((),
                                                         dtype=torch.long))
        self.register_buffer('num_fits', torch.zeros((), dtype=torch.long))
        self.register_buffer('thresholds',
                             torch.tensor(start, dtype=torch.float64))
        self.register_buffer('raw_thresholds',
                             torch.tensor(start, dtype=torch.float64))
        for name in ('gmm_means', 'gmm_variances', 'gmm_weights'):
            self.register_buffer(name,
                                 torch.zeros(components, dtype=torch.float64))

    @property
    def bin_width(self) -> float:
        """Histogram bin width = threshold resolution."""
        return (1 - self.filter_thre) / self.num_bins

    @property
    def num_queued(self) -> int:
        """Iterations in the queue (at most ``queue_len``)."""
        return min(int(self.num_enqueued), self.queue_len)

    @property
    def num_samples(self) -> int:
        """Samples in the queue (after filtering)."""
        return int(self.queue.sum())

    @property
    def raw_threshold(self) -> Tuple[float, float]:
        """``(lo, hi)`` of the last fit before the EMA (equal for a single
        threshold); the initial threshold before any fit."""
        lo, hi = self.raw_thresholds.tolist()
        return lo, hi

    @property
    def means(self) -> Tuple[float, ...]:
        """Fitted component means, ascending (empty before any fit and in
        ``'fixed'`` mode)."""
        if int(self.num_fits) == 0:
            return ()
        return tuple(self.gmm_means.tolist())

    def current(self) -> Union[float, Tuple[float, float]]:
        """The threshold to use now.

        Returns:
            float | tuple[float, float]: xi, or ``(lo, hi)`` when dual.
        """
        lo, hi = self.thresholds.tolist()
        return (lo, hi) if self.is_dual else lo

    @torch.no_grad()
    def enqueue(self, cam: Tensor, valid: Optional[Tensor] = None) -> None:
        """Queue one iteration's CAM confidences (oldest entry dropped).

        Under distributed training every rank must call it every iteration:
        the entry is the sum of the ranks' histograms.

        Args:
            cam (Tensor): Label-masked normalised CAM, B x C_f x H x W in
                [0, 1]. Each class map is downsampled to
                ``(H // downsample) x (W // downsample)`` (bilinear,
                ``align_corners=False``), then the max over classes gives
                one sample per position.
            valid (Tensor, optional): Bool B x H x W, the pixels inside the
                image (not padding). A sample is kept only if every pixel
                its interpolation reads is valid.

        Raises:
            ValueError: ``cam`` is not B x C_f x H x W with C_f >= 1, or
                ``valid`` is not a bool B x H x W tensor.
        """
        if cam.dim() != 4 or cam.size(1) == 0:
            raise ValueError('cam must be B x C_f x H x W with C_f >= 1, got '
                             f'{tuple(cam.shape)}')
        batch, _, height, width = cam.shape
        if valid is not None and (valid.shape != (batch, height, width)
                                  or valid.dtype != torch.bool):
            raise ValueError(
                f'valid must be a bool {batch} x {height} x {width} tensor, '
                f'got {valid.dtype} {tuple(valid.shape)}')
        if self.threshold_mode == 'fixed':
            return
        size = (max(height // self.downsample, 1),
                max(width // self.downsample, 1))
        samples = F.interpolate(
            cam.detach().float(), size, mode='bilinear',
            align_corners=False).amax(dim=1)
        keep = samples > self.filter_thre  # False for NaN
        if valid is not None:
            inside = F.interpolate(
                valid[:, None].float(),
                size,
                mode='bilinear',
                align_corners=False)[:, 0]
            keep &= inside > 1 - VALID_TOL
        index = ((samples - self.filter_thre) / self.bin_width).nan_to_num(0)
        index = index.clamp(0, self.num_bins - 1).long()
        # dropped samples go to an extra bin; a 1-D integer scatter_add_
        # is deterministic and, unlike bincount, needs no host sync on CUDA
        index = torch.where(keep, index, self.num_bins).flatten()
        hist = index.new_zeros(self.num_bins + 1).scatter_add_(
            0, index, torch.ones_like(index))[:-1].to(self.queue.device)
        all_reduce(hist, op='sum')
        slot = (self.num_enqueued % self.queue_len).view(1)
        self.queue.index_copy_(0, slot, hist[None])
        self.num_enqueued += 1

    @torch.no_grad()
    def refit(self) -> None:
        """Fit the mixture to the queue and update the threshold.

        The threshold stays as it is in ``'fixed'`` mode, while fewer than
        ``min_queued`` iterations are queued, while the queue's samples fill
        fewer bins than the mixture has components, and (gmm3) when the
        lowest- or highest-mean component gets no sample or ``lo > hi``.
        """
        if self.threshold_mode == 'fixed' or self.num_queued < self.min_queued:
            return
        counts = self.queue.sum(dim=0).cpu().double().numpy()
        if np.count_nonzero(counts) < self.gmm_means.numel():
            return
        edges = np.linspace(self.filter_thre, 1, self.num_bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        nonzero = np.flatnonzero(counts)
        x, w = centres[nonzero], counts[nonzero]
        if self.threshold_mode == 'gmm2':
            if int(self.num_fits) > 0:
                start = (self.gmm_means.cpu().numpy(),
                         self.gmm_variances.cpu().numpy(),
                         self.gmm_weights.cpu().numpy())
            else:
                start = _percentile_start(x, w)
        else:
            start = _spread_start(x, w)
        means, variances, weights = _em(x, w, *start, self.max_iter,
                                        self.tol, self.min_variance)
        order = np.argsort(means)
        means, variances, weights = (means[order], variances[order],
                                     weights[order])
        if self.threshold_mode == 'gmm2':
            xi = _hard_split(centres, counts, edges, means, variances,
                             weights)
            raw = (min(max(xi, XI_RANGE[0]), XI_RANGE[1]), ) * 2
        else:
            raw = _outer_component_bounds(x, nonzero, edges, means,
                                          variances, weights)
            if raw is None:
                return
        self.gmm_means.copy_(torch.from_numpy(means))
        self.gmm_variances.copy_(torch.from_numpy(variances))
        self.gmm_weights.copy_(torch.from_numpy(weights))
        self.raw_thresholds.copy_(torch.tensor(raw, dtype=torch.float64))
        self.thresholds.mul_(self.xi_ema).add_(
            self.raw_thresholds, alpha=1 - self.xi_ema)
        self.num_fits += 1

    def extra_repr(self) -> str:
        return (f'threshold_mode={self.threshold_mode!r}, '
                f'queue_len={self.queue_len}, num_bins={self.num_bins}, '
                f'xi_ema={self.xi_ema}')


def _check_int(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or value < low:
        raise ValueError(f'{name} must be an int >= {low}, got {value!r}')


def _powers(x: np.ndarray) -> np.ndarray:
    """``[x^2; x; 1]``, 3 x N."""
    return np.stack([x * x, x, np.ones_like(x)])


def _log_densities(powers: np.ndarray, means: np.ndarray,
                   variances: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``log(pi_k N(x | mu_k, var_k))`` as a quadratic in x, K x N
    (``powers`` from :func:`_powers`)."""
    precision = 1 / variances
    coefficients = np.stack([
        -precision / 2, means * precision,
        np.log(weights) - np.log(2 * math.pi * variances) / 2 -
        means * means * precision / 2
    ], axis=1)
    return coefficients @ powers


def _em(x: np.ndarray, w: np.ndarray, means: np.ndarray,
        variances: np.ndarray, weights: np.ndarray, max_iter: int, tol: float,
        min_variance: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EM for a 1-D Gaussian mixture on samples ``x`` with counts ``w``.

    Stops after ``max_iter`` steps or when the mean log-likelihood changes
    by less than ``tol``. A component left without samples keeps its mean
    and variance.

    Returns:
        tuple: Means, variances (>= ``min_variance``) and weights, K each.
    """
    powers = _powers(x)
    total = w.sum()
    variances = np.maximum(variances, min_variance)
    previous = -np.inf
    for _ in range(max_iter):
        log_dens = _log_densities(powers, means, variances, weights)
        peak = log_dens.max(axis=0)
        dens = np.exp(log_dens - peak)
        norm = dens.sum(axis=0)
        log_lik = w @ (peak + np.log(norm)) / total
        # per component: sum r w x^2, sum r w x, sum r w
        moments = (dens * (w / norm)) @ powers.T
        mass = moments[:, 2]
        alive = mass > 0
        safe = np.where(alive, mass, 1.0)
        means = np.where(alive, moments[:, 1] / safe, means)
        variances = np.where(alive, moments[:, 0] / safe - means * means,
                             variances)
        variances = np.maximum(variances, min_variance)
        weights = np.maximum(mass / total, np.finfo(float).tiny)
        if abs(log_lik - previous) < tol:
            break
        previous = log_lik
    return means, variances, weights


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The smallest ``x`` whose cumulative count reaches ``q`` of all."""
    cdf = np.cumsum(w)
    return float(x[min(np.searchsorted(cdf, q * cdf[-1]), len(x) - 1)])


def _percentile_start(x: np.ndarray, w: np.ndarray) -> tuple:
    """gmm2's start: 10th / 90th percentile, sample variance, 1/2 each."""
    mean = (w * x).sum() / w.sum()
    variance = (w * (x - mean)**2).sum() / w.sum()
    means = np.array(
        [_weighted_quantile(x, w, 0.1),
         _weighted_quantile(x, w, 0.9)])
    return means, np.full(2, variance), np.full(2, 0.5)


def _spread_start(x: np.ndarray, w: np.ndarray) -> tuple:
    """gmm3's start: min, median, max; variance 1, 1/3 each."""
    means = np.array([x[0], _weighted_quantile(x, w, 0.5), x[-1]])
    return means, np.ones(3), np.full(3, 1 / 3)


def _hard_split(centres: np.ndarray, counts: np.ndarray, edges: np.ndarray,
                means: np.ndarray, variances: np.ndarray,
                weights: np.ndarray) -> float:
    """gmm2's xi: the bin edge of the best hard split (cosa.md 2.9).

    Splitting before bin ``k`` scores ``sum_{j<k} n_j lb_j + sum_{j>=k}
    n_j lf_j`` = const + ``cumsum(n (lb - lf))[k]``; among tied splits
    (empty bins between them) the one maximising the same sum with unit
    counts, i.e. nearest the densities' crossing, wins.
    """
    log_bg, log_fg = _log_densities(_powers(centres), means, variances,
                                    weights)
    gain = np.concatenate(([0.], np.cumsum(counts * (log_bg - log_fg))))
    ties = np.flatnonzero(gain == gain.max())
    unit_gain = np.concatenate(([0.], np.cumsum(log_bg - log_fg)))
    return float(edges[ties[np.argmax(unit_gain[ties])]])


def _outer_component_bounds(x: np.ndarray, nonzero: np.ndarray,
                            edges: np.ndarray, means: np.ndarray,
                            variances: np.ndarray,
                            weights: np.ndarray) -> Optional[tuple]:
    """gmm3's ``(lo, hi)``: the upper edge of the last bin assigned to the
    lowest-mean component, the lower edge of the first bin assigned to the
    highest-mean one (means ascending); None if either has no bin or
    ``lo > hi``."""
    assigned = _log_densities(_powers(x), means, variances,
                              weights).argmax(axis=0)
    low, high = nonzero[assigned == 0], nonzero[assigned == len(means) - 1]
    if len(low) == 0 or len(high) == 0:
        return None
    lo, hi = float(edges[low[-1] + 1]), float(edges[high[0]])
    return (lo, hi) if lo <= hi else None
