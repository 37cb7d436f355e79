"""PASCAL VOC layout dataset for weakly supervised semantic segmentation."""
import copy
import hashlib
import io
import json
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Set, Tuple

import mmengine
import numpy as np
from mmengine import fileio
from mmengine.dataset import force_full_init
from mmengine.logging import print_log
from mmengine.utils import is_abs
from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from mmseg.registry import DATASETS
from PIL import Image

from mmseg_wsss.structures import IGNORE_INDEX
from mmseg_wsss.utils.io import atomic_write, color_palette, read_label_map

PSEUDO_LABEL_SUFFIX = '.png'
# ids IRN's int keys stand for: 2007000032 is 2007_000032
IRN_ID = re.compile(r'[1-9]\d{3}_\d+')


def image_size(path: str,
               backend_args: Optional[dict] = None) -> Tuple[int, int]:
    """``(width, height)`` of an image, read from its header only."""
    with fileio.get_local_path(path, backend_args=backend_args) as local, \
            Image.open(local) as img:
        return img.size


def find_missing(directory: str,
                 names: Sequence[str],
                 backend_args: Optional[dict] = None) -> Optional[str]:
    """The first of ``names`` with no file in ``directory``, or None.

    The directory is listed once, so checking thousands of files costs about
    as much as one listing; names with a sub-folder fall back to a lookup.
    """
    listed: Set[str] = set(
        fileio.list_dir_or_file(
            directory, list_dir=False, backend_args=backend_args))
    for name in names:
        if name not in listed and not fileio.isfile(
                osp.join(directory, name), backend_args=backend_args):
            return name
    return None


def mask_fg_classes(path: str,
                    num_classes: int,
                    backend_args: Optional[dict] = None) -> List[int]:
    """Foreground classes present in a label map.

    Args:
        path (str): Label PNG (palette or grey), values ``0..num_classes-1``
            or 255.
        num_classes (int): Number of classes including background.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        list[int]: Sorted ids in ``1..num_classes-1``.

    Raises:
        ValueError: A value is neither a class nor 255.
    """
    mask = read_label_map(path, 'mask', backend_args)
    present = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    bad = present[(present >= num_classes) & (present != IGNORE_INDEX)]
    if bad.size:
        raise ValueError(f'{path}: label values {bad.tolist()} are neither a '
                         f'class index 0..{num_classes - 1} nor '
                         f'{IGNORE_INDEX} (ignore)')
    return [int(c) for c in present if 0 < c < num_classes]


@DATASETS.register_module()
class WSSSVOCDataset(BaseSegDataset):
    """VOC-layout dataset with image-level labels, saliency and pseudo labels.

    Layout under ``data_root``: ``JPEGImages/<id>.jpg``,
    ``SegmentationClass/<id>.png`` (optional, GT masks: 0 background,
    1..C-1 classes, 255 ignore), ``ImageSets/Segmentation/<split>.txt`` (one
    id a line; blank lines are skipped) and an image-label file. The data
    list is :class:`BaseSegDataset`'s (``img_path``, ``seg_map_path`` if a
    mask dir is configured, ``label_map``, ``reduce_zero_label``,
    ``seg_fields``) plus ``img_id``, ``img_labels`` (sorted foreground ids),
    ``num_classes``, ``sal_path`` (if ``saliency_dir``),
    ``pseudo_label_path`` (if ``pseudo_label_dir``) and ``allow_gt_masks``.
    Files are read through mmengine ``fileio`` with ``backend_args``.

    Everything a pipeline will read is checked when the data list is built,
    and a problem raises an error naming the file or id: missing image, mask,
    saliency map or pseudo label; missing label file or an id absent from it;
    an empty label list; a class id out of range; a saliency map whose size
    differs from its image; an empty split. Label-map values (neither a class
    nor 255) are checked when labels are derived from masks, and per sample
    by LoadPseudoLabel and PackWSSSInputs.

    With ``metainfo`` classes that are a subset of :attr:`METAINFO`'s, pixel
    and image labels are remapped as mmseg does (``label_map``); classes not
    drawn from :attr:`METAINFO` define a label space of their own, in their
    own order (palette from :func:`color_palette` unless given).

    Args:
        ann_file (str): Split file, one id a line. Defaults to
            ``'ImageSets/Segmentation/train.txt'``.
        data_prefix (dict): ``img_path`` and, optionally, ``seg_map_path``
            (GT masks; leave the key out for a set without masks).
        img_labels_file (str, optional): ``{id: [fg ids]}`` JSON, or a
            ``.npy`` dict ``{id: multi-hot over C-1 classes}`` as PSA writes
            it (string ids) or IRN writes it (int keys: ``2007000032`` for
            ``2007_000032``, accepted for ids of that form); relative to
            ``data_root`` unless absolute. None derives the labels from the
            masks at every build (about 1.7 ms a 500x375 mask: some 18 s
            for VOC train_aug; see ``img_labels_cache``).
        img_labels_cache (str, optional): Local folder where labels derived
            from masks are cached as ``<sha1 of mask dir, split path and
            ids>.json`` and reused when present (delete it after editing
            masks). None (default) derives them anew each time and writes
            nothing.
        saliency_dir (str, optional): Folder of ``<id><saliency_suffix>``
            grey saliency maps, relative to ``data_root`` unless absolute.
        saliency_suffix (str): Defaults to ``'.png'``.
        pseudo_label_dir (str, optional): Folder of ``<id>.png`` palette
            pseudo labels (absolute or relative to the working directory).
        allow_gt_masks (bool): Let a training pipeline pack GT masks; only
            for the fully supervised upper bound. ``test_mode`` always allows.
        **kwargs: :class:`BaseSegDataset` arguments. ``backend_args``
            reaches every read; ``ann_file`` must still be a local file
            (mmseg 1.2.2's ``BaseSegDataset.load_data_list`` asserts it).
    """
    METAINFO = copy.deepcopy(PascalVOCDataset.METAINFO)

    def __init__(self,
                 ann_file: str = 'ImageSets/Segmentation/train.txt',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(
                     img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 img_labels_file: Optional[str] = 'cls_labels.json',
                 img_labels_cache: Optional[str] = None,
                 saliency_dir: Optional[str] = None,
                 saliency_suffix: str = '.png',
                 pseudo_label_dir: Optional[str] = None,
                 allow_gt_masks: bool = False,
                 **kwargs) -> None:
        if kwargs.get('reduce_zero_label', False):
            raise ValueError(
                f'{type(self).__name__}: reduce_zero_label=True is not '
                'supported; image-level labels take 0 as background')
        self.img_labels_file = img_labels_file
        self.img_labels_cache = img_labels_cache
        self.saliency_dir = saliency_dir
        self.saliency_suffix = saliency_suffix
        self.pseudo_label_dir = pseudo_label_dir
        self.allow_gt_masks = allow_gt_masks
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[dict] = None) -> dict:
        """As BaseDataset's; a label space of its own gets a palette."""
        meta = super()._load_metainfo(metainfo)
        classes = meta.get('classes')
        if (metainfo is not None and 'palette' not in metainfo
                and classes is not None and not set(classes).issubset(
                    cls.METAINFO.get('classes', []))):
            meta['palette'] = color_palette(len(classes)).tolist()
        return meta

    @classmethod
    def get_label_map(cls,
                      new_classes: Optional[Sequence] = None
                      ) -> Optional[Dict[int, int]]:
        """mmseg's label map for a subset of :attr:`METAINFO` classes; None
        for the same classes or for a label space of its own."""
        old_classes = cls.METAINFO.get('classes')
        if (new_classes is not None and old_classes is not None
                and not set(new_classes).issubset(old_classes)):
            return None
        return super().get_label_map(new_classes)

    def _join_prefix(self) -> None:
        """Also join ``img_labels_file`` and ``saliency_dir`` to
        ``data_root``."""
        super()._join_prefix()
        if self.data_root:
            if self.img_labels_file and not is_abs(self.img_labels_file):
                self.img_labels_file = fileio.join_path(
                    self.data_root, self.img_labels_file)
            if self.saliency_dir and not is_abs(self.saliency_dir):
                self.saliency_dir = fileio.join_path(self.data_root,
                                                     self.saliency_dir)

    @property
    def num_classes(self) -> int:
        """Number of classes including background."""
        return len(self._metainfo['classes'])

    @property
    def _source_num_classes(self) -> int:
        """Number of classes of the label files and masks on disk."""
        if self.label_map is not None:
            return len(self.METAINFO['classes'])
        return self.num_classes

    def _read_split(self) -> List[str]:
        """Ids listed in ``ann_file``, one per line ('' for a blank line)."""
        if not self.ann_file or not fileio.isfile(
                self.ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'{type(self).__name__}: split file not found: '
                f'{self.ann_file!r} (expected a text file with one id a line)')
        ids = [
            line.strip() for line in mmengine.list_from_file(
                self.ann_file, backend_args=self.backend_args)
        ]
        for num, img_id in enumerate(ids, 1):
            if len(img_id.split()) > 1:
                raise ValueError(f'{self.ann_file}:{num}: expected one id a '
                                 f'line, got {img_id!r}')
        if not any(ids):
            raise ValueError(f'split file {self.ann_file} lists no image ids')
        return ids

    def _check_files(self, directory: str, ids: Sequence[str], suffix: str,
                     what: str) -> None:
        """Raise if ``directory`` lacks ``<id><suffix>`` for any id."""
        if not fileio.isdir(directory, backend_args=self.backend_args):
            raise FileNotFoundError(f'{what} folder not found: {directory}')
        missing = find_missing(directory, [i + suffix for i in ids],
                               self.backend_args)
        if missing is not None:
            raise FileNotFoundError(
                f'{what} for id {missing[:-len(suffix) or None]!r} (listed '
                f'in {self.ann_file}) not found: '
                f'{osp.join(directory, missing)}')

    def _load_label_table(self) -> dict:
        """The raw ``{id: labels}`` table of ``img_labels_file``."""
        path = self.img_labels_file
        if not fileio.isfile(path, backend_args=self.backend_args):
            raise FileNotFoundError(f'image-level label file not found: '
                                    f'{path}')
        if path.endswith('.npy'):
            data = fileio.get(path, backend_args=self.backend_args)
            return np.load(io.BytesIO(data), allow_pickle=True).item()
        if path.endswith('.json'):
            return fileio.load(path, backend_args=self.backend_args)
        raise ValueError(f'image-level label file {path}: expected a .json '
                         'or .npy file')

    def _read_label_file(self, ids: Sequence[str]) -> Dict[str, List[int]]:
        """Foreground ids per image from the JSON or ``.npy`` label file."""
        path = self.img_labels_file
        table = self._load_label_table()
        # IRN keys its dict by int: 2007000032 for 2007_000032
        irn_keys = isinstance(next(iter(table), None), (int, np.integer))
        num_fg = self._source_num_classes - 1
        labels = {}
        for img_id in ids:
            key = img_id
            if irn_keys and IRN_ID.fullmatch(img_id):
                key = int(img_id.replace('_', ''))
            if key not in table:
                hint = (' (its keys are IRN-style ints, 2007000032 for '
                        '2007_000032, which only name ids of that form: '
                        'convert it to a JSON {id: [foreground class ids]} '
                        'keyed by the ids of the split file)'
                        if irn_keys else '')
                raise KeyError(f'image-level label file {path} has no entry '
                               f'for id {img_id!r} (listed in '
                               f'{self.ann_file}){hint}')
            entry = table[key]
            if path.endswith('.npy'):
                vec = np.asarray(entry).ravel()
                if vec.size != num_fg:
                    raise ValueError(
                        f'{path}: labels of {img_id!r} have length '
                        f'{vec.size}, expected {num_fg} (one per foreground '
                        'class)')
                labels[img_id] = (np.flatnonzero(vec) + 1).tolist()
            else:
                if not isinstance(entry, list) or not all(
                        isinstance(c, int) for c in entry):
                    raise ValueError(f'{path}: labels of {img_id!r} must be '
                                     f'a list of class ids, got {entry!r}')
                bad = [c for c in entry if not 0 < c <= num_fg]
                if bad:
                    raise ValueError(
                        f'{path}: labels of {img_id!r} hold {bad}, outside '
                        f'the foreground ids 1..{num_fg}')
                labels[img_id] = entry
        return labels

    def _derive_labels(self, ids: Sequence[str],
                       mask_dir: Optional[str]) -> Dict[str, List[int]]:
        """Foreground ids per image from the masks (cached as JSON in
        ``img_labels_cache`` if set)."""
        if mask_dir is None:
            raise ValueError(
                f'{type(self).__name__}: img_labels_file=None derives labels '
                'from masks, but data_prefix has no seg_map_path')
        cache = None
        if self.img_labels_cache is not None:
            key = '\n'.join([osp.abspath(mask_dir),
                             osp.abspath(self.ann_file)] + list(ids))
            cache = osp.join(self.img_labels_cache,
                             hashlib.sha1(key.encode()).hexdigest() + '.json')
            if osp.isfile(cache):
                with open(cache) as f:
                    return json.load(f)
        labels = {
            img_id: mask_fg_classes(
                osp.join(mask_dir, img_id + self.seg_map_suffix),
                self._source_num_classes, self.backend_args)
            for img_id in ids
        }
        if cache is not None:
            with atomic_write(cache, 'w') as f:
                json.dump(labels, f)
            print_log(
                f'image-level labels of {len(ids)} images derived from '
                f'{mask_dir}, cached in {cache}',
                logger='current')
        return labels

    def _final_labels(self, img_id: str, labels: Sequence[int],
                      source: str) -> List[int]:
        """Sorted, label-mapped foreground ids; raise if none is left."""
        if self.label_map is not None:
            labels = [self.label_map.get(c, IGNORE_INDEX) for c in labels]
        kept = sorted({int(c) for c in labels if 0 < c < self.num_classes})
        if not kept:
            subset = (f' among the classes {self._metainfo["classes"]}'
                      if self.label_map is not None else '')
            raise ValueError(
                f'image {img_id!r} has no foreground label{subset} in '
                f'{source}; every image needs at least one (labels are never '
                'silently empty)')
        return kept

    def _check_saliency_sizes(self, img_paths: Sequence[str],
                              sal_paths: Sequence[str]) -> None:
        """Raise if a saliency map's size differs from its image's."""
        for img_path, sal_path in zip(img_paths, sal_paths):
            img_size = image_size(img_path, self.backend_args)
            sal_size = image_size(sal_path, self.backend_args)
            if img_size != sal_size:
                raise ValueError(
                    f'saliency map {sal_path} is {sal_size[0]}x{sal_size[1]} '
                    f'(WxH) but its image {img_path} is '
                    f'{img_size[0]}x{img_size[1]}')

    def load_data_list(self) -> List[dict]:
        """Extend :meth:`BaseSegDataset.load_data_list` with the WSSS keys,
        checking every file the pipelines will read.

        Returns:
            list[dict]: One data info per listed id.
        """
        ids = self._read_split()
        data_list = [
            info for info, img_id in zip(
                super().load_data_list(), ids, strict=True) if img_id
        ]
        ids = [img_id for img_id in ids if img_id]
        img_dir = self.data_prefix['img_path']
        mask_dir = self.data_prefix.get('seg_map_path')
        self._check_files(img_dir, ids, self.img_suffix, 'image')
        if mask_dir is not None:
            self._check_files(mask_dir, ids, self.seg_map_suffix, 'mask')
        if self.img_labels_file is None:
            raw_labels = self._derive_labels(ids, mask_dir)
            sources = [info['seg_map_path'] for info in data_list]
        else:
            raw_labels = self._read_label_file(ids)
            sources = [self.img_labels_file] * len(ids)
        if self.saliency_dir is not None:
            self._check_files(self.saliency_dir, ids, self.saliency_suffix,
                              'saliency map')
            for info, img_id in zip(data_list, ids):
                info['sal_path'] = osp.join(
                    self.saliency_dir, img_id + self.saliency_suffix)
            self._check_saliency_sizes(
                [info['img_path'] for info in data_list],
                [info['sal_path'] for info in data_list])
        if self.pseudo_label_dir is not None:
            self._check_files(self.pseudo_label_dir, ids, PSEUDO_LABEL_SUFFIX,
                              'pseudo label')
        for info, img_id, source in zip(data_list, ids, sources):
            info['img_id'] = img_id
            info['img_labels'] = self._final_labels(img_id,
                                                    raw_labels[img_id],
                                                    source)
            info['num_classes'] = self.num_classes
            if self.pseudo_label_dir is not None:
                info['pseudo_label_path'] = osp.join(
                    self.pseudo_label_dir, img_id + PSEUDO_LABEL_SUFFIX)
            info['allow_gt_masks'] = self.test_mode or self.allow_gt_masks
        return data_list

    @force_full_init
    def set_label_dirs(self,
                       pseudo_label_dir: str,
                       sal_label_dir: Optional[str] = None) -> None:
        """Point every data info at new pseudo labels (and saliency labels).

        Sets ``pseudo_label_path`` (read by LoadPseudoLabel) and, with
        ``sal_label_dir``, ``sal_label_path`` (read by LoadSaliencyMap
        instead of the off-the-shelf ``sal_path``, which is kept). The
        stored (possibly serialized) data list is rewritten, so samples
        fetched afterwards load the new labels. DataLoader workers hold a copy
        of the dataset: the switch reaches them when they are re-created,
        which needs ``persistent_workers=False``.

        Args:
            pseudo_label_dir (str): Folder of ``<id>.png`` pseudo labels,
                one for every image of the dataset.
            sal_label_dir (str, optional): Folder of ``<id>.png`` grey
                saliency labels, one per image, of the image's size.

        Raises:
            FileNotFoundError: A folder or one of its files is missing (the
                dataset then keeps its previous folders).
            ValueError: A saliency label's size differs from its image's.
        """
        data_list = [self._stored_info(i) for i in range(len(self))]
        ids = [info['img_id'] for info in data_list]
        self._check_files(pseudo_label_dir, ids, PSEUDO_LABEL_SUFFIX,
                          'pseudo label')
        if sal_label_dir is not None:
            self._check_files(sal_label_dir, ids, PSEUDO_LABEL_SUFFIX,
                              'saliency label')
            self._check_saliency_sizes(
                [info['img_path'] for info in data_list], [
                    osp.join(sal_label_dir, i + PSEUDO_LABEL_SUFFIX)
                    for i in ids
                ])
        for info in data_list:
            info['pseudo_label_path'] = osp.join(
                pseudo_label_dir, info['img_id'] + PSEUDO_LABEL_SUFFIX)
            if sal_label_dir is not None:
                info['sal_label_path'] = osp.join(
                    sal_label_dir, info['img_id'] + PSEUDO_LABEL_SUFFIX)
        self.pseudo_label_dir = pseudo_label_dir
        self.data_list = data_list
        if self.serialize_data:
            self.data_bytes, self.data_address = self._serialize_data()
        print_log(
            f'{type(self).__name__}: pseudo labels now read from '
            f'{pseudo_label_dir}' +
            (f', saliency labels from {sal_label_dir}'
             if sal_label_dir else ''),
            logger='current')

    def _stored_info(self, idx: int) -> dict:
        """The idx-th data info as stored (without ``sample_idx``)."""
        if not self.serialize_data:
            return self.data_list[idx]
        info = self.get_data_info(idx)
        info.pop('sample_idx')
        return info
