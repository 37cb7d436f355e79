"""One writer for every method's pseudo labels: iteration, rank sharding,
resuming, stale-folder checks and atomic files."""
import inspect
import os
import os.path as osp
import shutil
from typing import Optional

import numpy as np
from mmengine.dataset import BaseDataset, pseudo_collate
from mmengine.dist import barrier, broadcast_object_list, get_dist_info
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from mmseg.registry import TASK_UTILS
from PIL import Image
from torch import nn

from ..utils.io import atomic_write, save_label_png
from .meta import (identity_diff, model_fingerprint, normalize, read_meta,
                   update_meta, write_meta)

ON_MISMATCH = ('raise', 'overwrite')


class StaleLabelsError(RuntimeError):
    """A label folder holds labels made by something else than the request."""


def label_identity(model: nn.Module, dataset: BaseDataset,
                   generator_cfg: dict) -> dict:
    """What determines a label folder's content.

    Args:
        model (nn.Module): The labelling model (unwrapped).
        dataset (BaseDataset): The labelled dataset.
        generator_cfg (dict): The generator's config.

    Returns:
        dict: ``generator`` (the config with the generator's defaults filled
        in, so an explicit default equals an absent key), ``model`` (weights
        fingerprint) and ``dataset`` (type, size and the absolute paths of
        everything a generator reads: split, images, image labels, saliency
        maps and the updated saliency labels in use).
    """
    return normalize(
        dict(
            generator=generator_identity(generator_cfg),
            model=model_fingerprint(model),
            dataset=dataset_identity(dataset)))


def generator_identity(generator_cfg: dict) -> dict:
    """A generator config with its defaults filled in (an explicit default
    and an absent key are the same request)."""
    generator = dict(generator_cfg)
    signature = inspect.signature(TASK_UTILS.get(generator['type']))
    for name, param in signature.parameters.items():
        if param.default is not inspect.Parameter.empty:
            generator.setdefault(name, param.default)
    return normalize(generator)


def dataset_identity(dataset: BaseDataset) -> dict:
    """The labelled dataset's type, size and input paths (absolute)."""
    first = dataset.get_data_info(0) if len(dataset) else {}
    paths = dict(
        ann_file=getattr(dataset, 'ann_file', None),
        img_dir=_dirname(first.get('img_path')),
        img_labels_file=getattr(dataset, 'img_labels_file', None),
        sal_dir=_dirname(first.get('sal_path')),
        sal_label_dir=_dirname(first.get('sal_label_path')))
    return dict(
        type=type(dataset).__name__,
        num_images=len(dataset),
        **{k: osp.abspath(v) if v else None
           for k, v in paths.items()})


def _dirname(path: Optional[str]) -> Optional[str]:
    return osp.dirname(path) if path else None


def prepare_label_dir(out_dir: str,
                      identity: dict,
                      on_mismatch: str = 'raise') -> bool:
    """Make ``out_dir`` ready for labels of ``identity``.

    A folder whose ``meta.json`` has the same identity is kept (complete: it
    is reused; incomplete: generation resumes). A folder made by something
    else (other identity, or labels without a ``meta.json``) is refused, or
    emptied with ``on_mismatch='overwrite'``. Rank 0 decides for every rank
    (its view is broadcast) and alone deletes and writes.

    Args:
        out_dir (str): The label folder.
        identity (dict): See :func:`label_identity`.
        on_mismatch (str): ``'raise'`` or ``'overwrite'``.

    Returns:
        bool: Whether the folder already holds all labels.

    Raises:
        StaleLabelsError: The folder holds other labels and
            ``on_mismatch='raise'``; the message names the folder and the
            differences.
    """
    if on_mismatch not in ON_MISMATCH:
        raise ValueError(f'on_mismatch must be one of {ON_MISMATCH}, got '
                         f'{on_mismatch!r}')
    rank, _ = get_dist_info()
    # rank 0's view for every rank: (reason to refuse, has meta, complete)
    decision = [None, False, False]
    if rank == 0:
        decision = list(_folder_state(out_dir, identity))
    broadcast_object_list(decision)
    reason, has_meta, complete = decision
    if reason is None and has_meta:
        return complete
    if reason is not None:
        if on_mismatch == 'raise':
            raise StaleLabelsError(
                f'{out_dir} holds labels that were not made by this request '
                f'({reason}); choose another folder, delete it, or allow '
                'overwriting (tools: --overwrite)')
        print_log(
            f'{out_dir}: relabelling, the labels there were made by '
            f'something else ({reason})',
            logger='current',
            level=30)
    if rank == 0:
        if reason is not None:
            shutil.rmtree(out_dir)
        os.makedirs(out_dir, exist_ok=True)
        write_meta(out_dir, dict(identity=identity, complete=False))
    barrier()
    return False


def _folder_state(out_dir: str, identity: dict) -> tuple:
    """``(reason the folder holds other labels or None, has a meta.json,
    complete)``."""
    meta = read_meta(out_dir)
    if meta is not None:
        diff = identity_diff(meta.get('identity', {}), identity)
        return '; '.join(diff) or None, True, bool(meta.get('complete'))
    if osp.isdir(out_dir) and os.listdir(out_dir):
        return ('it has files but no meta.json saying what made them', False,
                False)
    return None, False, False


def write_pseudo_labels(model: nn.Module,
                        dataset: BaseDataset,
                        generator,
                        out_dir: str,
                        identity: dict,
                        info: Optional[dict] = None,
                        on_mismatch: str = 'raise',
                        save_cams: bool = False) -> int:
    """Label every image of ``dataset`` into ``out_dir/<img_id>.png``.

    The folder is checked first (:func:`prepare_label_dir`): labels of the
    same identity are kept and only missing files are made. Each rank
    labels every
    ``world_size``-th image; an image whose files exist is skipped (an
    interrupted run resumes); every file is written atomically, so a file on
    disk is always complete. When all ranks are done, rank 0 marks
    ``meta.json`` complete and adds ``info``.

    Files per image: ``<id>.png`` (VOC palette, 255 ignore); with a
    generator that updates saliency, ``saliency/<id>.png`` (grey, 255 =
    salient); with ``save_cams``, ``cams/<id>.npy`` (float16 K x H x W).

    Args:
        model (nn.Module): The unwrapped model, with its
            ``data_preprocessor``.
        dataset (BaseDataset): Its pipeline packs ``gt_img_labels`` and keeps
            the image size (no resize or crop).
        generator (BaseLabelGenerator): Makes one image's labels.
        out_dir (str): Label folder.
        identity (dict): :func:`label_identity` of the request.
        info (dict, optional): Extra fields of ``meta.json`` (paths, stage,
            iteration, ...); not part of the identity.
        on_mismatch (str): See :func:`prepare_label_dir`.
        save_cams (bool): Also save the generator's CAMs.

    Returns:
        int: Number of images this rank labelled.
    """
    prepare_label_dir(out_dir, identity, on_mismatch)
    rank, world_size = get_dist_info()
    sal_dir = osp.join(out_dir, 'saliency')
    cam_dir = osp.join(out_dir, 'cams')
    indices = range(rank, len(dataset), world_size)
    progress = ProgressBar(len(indices)) if rank == 0 else None
    was_training = model.training
    model.eval()
    written = 0
    for idx in indices:
        img_id = dataset.get_data_info(idx)['img_id']
        paths = dict(label=osp.join(out_dir, f'{img_id}.png'))
        if generator.updates_saliency:
            paths['sal'] = osp.join(sal_dir, f'{img_id}.png')
        if save_cams:
            paths['cam'] = osp.join(cam_dir, f'{img_id}.npy')
        if not all(osp.exists(p) for p in paths.values()):
            _write_one(model, dataset, idx, generator, paths)
            written += 1
        if progress is not None:
            progress.update()
    model.train(was_training)
    barrier()
    if rank == 0:
        update_meta(
            out_dir,
            complete=True,
            info=normalize(dict(info or {}, num_images=len(dataset))))
        print_log(
            f'pseudo labels of {len(dataset)} images in {out_dir} '
            f'({written} made by rank 0, the rest reused or made by other '
            'ranks)',
            logger='current')
    barrier()
    return written


def _write_one(model: nn.Module, dataset: BaseDataset, idx: int, generator,
               paths: dict) -> None:
    """Label image ``idx`` and write its files (the label last, so a
    label on disk means the image is done)."""
    data = model.data_preprocessor(pseudo_collate([dataset[idx]]), False)
    result = generator(model, data['inputs'], data['data_samples'][0],
                       dataset.get_data_info(idx))
    if 'cam' in paths:
        with atomic_write(paths['cam']) as f:
            np.save(f, result['cam'].astype(np.float16))
    if 'sal' in paths:
        with atomic_write(paths['sal']) as f:
            Image.fromarray(result['sal'], mode='L').save(f, format='PNG')
    save_label_png(result['label'], paths['label'])
