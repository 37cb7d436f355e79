"""Pseudo-label generation: a generator per method, one writer for all.

A generator is a registered callable
``generator(model, inputs, data_sample, data_info) -> dict`` returning
``label`` (H x W uint8 in {0..C-1, 255}) and optionally ``cam``
(K x H x W float) and ``sal`` (an updated saliency label, H x W uint8). :func:`write_pseudo_labels` owns iteration, rank
sharding, resuming and atomic writing, so generators stay testable without a
runner and the stage-wise hooks of the methods reuse the writer.
"""
import json
import os
import os.path as osp
from typing import Optional, Sequence

import mmcv
import numpy as np
import torch
from mmengine.dataset import BaseDataset, pseudo_collate
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from mmseg.registry import TASK_UTILS
from mmseg.structures import SegDataSample
from PIL import Image
from torch import Tensor, nn

from ..models.decode_heads.cam_head import stack_img_labels
from ..models.utils.pseudo_label import (cam_saliency_seeds, cam_to_label,
                                         fuse_cam_saliency)
from ..utils.io import atomic_save, save_label_png

SALIENCY_RULES = {'auxsegnet': fuse_cam_saliency, 'cian': cam_saliency_seeds}


def read_saliency(data_info: dict, shape: Sequence[int]) -> np.ndarray:
    """Off-the-shelf saliency of an image as H x W floats in [0, 1]."""
    path = data_info.get('sal_path')
    if path is None:
        raise KeyError(f"{data_info.get('img_path')}: no saliency map; set "
                       'saliency_dir on the dataset')
    sal = mmcv.imread(path, flag='grayscale')
    if sal is None:
        raise FileNotFoundError(f'saliency map missing or unreadable: {path}')
    if sal.shape != tuple(shape):
        raise ValueError(f'saliency map {path} has size {sal.shape}, the '
                         f'image has {tuple(shape)}')
    return sal.astype(np.float32) / 255.


@TASK_UTILS.register_module()
class CAMLabelGenerator:
    """Pseudo labels from the CAMs of a :class:`CAMClassifier`-like model.

    The model must provide ``generate_cams(inputs, img_labels, scales,
    flip) -> B x K x H x W`` normalised CAMs.

    Args:
        scales (Sequence[float]): CAM scales.
        flip (bool): Add flipped CAMs.
        bg_thr (float): Background threshold (no saliency rule).
        saliency_rule (str, optional): ``'auxsegnet'``
            (:func:`fuse_cam_saliency`) or ``'cian'``
            (:func:`cam_saliency_seeds`); None uses ``bg_thr`` alone.
        rule_cfg (dict, optional): Keyword arguments of the saliency rule.
        crf (dict, optional): Dense-CRF keyword arguments
            (:func:`mmseg_wsss.utils.crf.dense_crf`); refines the
            thresholded CAMs. Not combined with a saliency rule.
    """

    def __init__(self,
                 scales: Sequence[float] = (1.0, ),
                 flip: bool = False,
                 bg_thr: float = 0.2,
                 saliency_rule: Optional[str] = None,
                 rule_cfg: Optional[dict] = None,
                 crf: Optional[dict] = None):
        if saliency_rule is not None and saliency_rule not in SALIENCY_RULES:
            raise ValueError(f'saliency_rule must be one of '
                             f'{sorted(SALIENCY_RULES)} or None, got '
                             f'{saliency_rule!r}')
        if saliency_rule is not None and crf is not None:
            raise ValueError('a dense CRF refines thresholded CAMs; it is not '
                             'combined with a saliency rule')
        self.scales = tuple(scales)
        self.flip = flip
        self.bg_thr = bg_thr
        self.saliency_rule = saliency_rule
        self.rule_cfg = rule_cfg or {}
        self.crf = crf

    @torch.no_grad()
    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_sample: SegDataSample, data_info: dict) -> dict:
        """Label one image.

        Args:
            model (nn.Module): The classifier, in eval mode.
            inputs (Tensor): The normalised image, 1 x 3 x H x W.
            data_sample (SegDataSample): Its sample, with ``gt_img_labels``.
            data_info (dict): Its dataset entry (``img_path``, ``sal_path``).

        Returns:
            dict: ``label`` (H x W uint8) and ``cam`` (K x H x W float32).
        """
        img_labels = stack_img_labels([data_sample]).to(inputs.device)
        cam = model.generate_cams(inputs, img_labels, self.scales, self.flip)
        cam = cam[0].cpu().numpy()
        if self.saliency_rule is not None:
            sal = read_saliency(data_info, cam.shape[1:])
            label = SALIENCY_RULES[self.saliency_rule](cam, sal,
                                                       **self.rule_cfg)
        elif self.crf is not None:
            label = self._crf_label(cam, img_labels[0].cpu().numpy(),
                                    data_info['img_path'])
        else:
            label = cam_to_label(cam, self.bg_thr)
        return dict(label=label, cam=cam.astype(np.float32))

    def _crf_label(self, cam: np.ndarray, img_labels: np.ndarray,
                   img_path: str) -> np.ndarray:
        """Dense CRF over background and the labelled classes."""
        from ..utils.crf import dense_crf
        keys = np.concatenate([[0], np.flatnonzero(img_labels) + 1])
        scores = np.concatenate(
            [np.full_like(cam[:1], self.bg_thr), cam[keys[1:] - 1]])
        probs = scores / np.maximum(scores.sum(axis=0, keepdims=True), 1e-5)
        img = mmcv.imread(img_path, channel_order='rgb')
        posterior = dense_crf(img, probs, **self.crf)
        return keys[posterior.argmax(axis=0)].astype(np.uint8)


def write_pseudo_labels(model: nn.Module,
                        dataset: BaseDataset,
                        generator,
                        out_dir: str,
                        cam_dir: Optional[str] = None,
                        meta: Optional[dict] = None,
                        sal_dir: Optional[str] = None) -> int:
    """Label every image of ``dataset`` into ``out_dir/<img_id>.png``.

    Each rank labels every ``world_size``-th image; labels that already exist
    are kept (an interrupted run resumes), and each PNG is written atomically
    so a label on disk is always complete. Rank 0 writes ``meta.json`` once
    all ranks are done.

    Args:
        model (nn.Module): The model, with its ``data_preprocessor``.
        dataset (BaseDataset): Its pipeline must pack ``gt_img_labels`` and
            must not resize or crop the image.
        generator (Callable): See the module docstring.
        out_dir (str): Label directory.
        cam_dir (str, optional): Also save CAMs as ``<img_id>.npy`` here.
        meta (dict, optional): Written to ``out_dir/meta.json``.
        sal_dir (str, optional): Save the generator's ``sal`` maps here as
            grey ``<img_id>.png``; an image counts as done when both its
            label and its saliency map exist.

    Returns:
        int: Number of labels this rank wrote.
    """
    rank, world_size = get_dist_info()
    os.makedirs(out_dir, exist_ok=True)
    for extra_dir in (cam_dir, sal_dir):
        if extra_dir is not None:
            os.makedirs(extra_dir, exist_ok=True)
    indices = range(rank, len(dataset), world_size)
    progress = ProgressBar(len(indices)) if rank == 0 else None
    was_training = model.training
    model.eval()
    written = 0
    for idx in indices:
        data_info = dataset.get_data_info(idx)
        img_id = data_info['img_id']
        path = osp.join(out_dir, f'{img_id}.png')
        sal_path = None if sal_dir is None else osp.join(
            sal_dir, f'{img_id}.png')
        if not osp.exists(path) or sal_path and not osp.exists(sal_path):
            data = model.data_preprocessor(pseudo_collate([dataset[idx]]),
                                           False)
            result = generator(model, data['inputs'],
                               data['data_samples'][0], data_info)
            if cam_dir is not None and 'cam' in result:
                np.save(osp.join(cam_dir, f'{img_id}.npy'),
                        result['cam'].astype(np.float16))
            if sal_path is not None:
                atomic_save(Image.fromarray(result['sal'], mode='L'),
                            sal_path)
            save_label_png(result['label'], path)
            written += 1
        if progress is not None:
            progress.update()
    model.train(was_training)
    barrier()
    if rank == 0:
        print_log(f'pseudo labels in {out_dir}: {len(dataset)} images',
                  logger='current')
        if meta is not None:
            write_meta(meta, out_dir)
    return written


def write_meta(meta: dict, out_dir: str) -> None:
    """Write ``meta.json`` atomically (merging with an existing one)."""
    path = osp.join(out_dir, 'meta.json')
    if osp.exists(path):
        with open(path) as f:
            meta = {**json.load(f), **meta}
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(meta, f, indent=2, default=str)
    os.replace(tmp, path)
