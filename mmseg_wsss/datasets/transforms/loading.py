"""Loading transforms for image-level labels, saliency, pseudo labels and
the CAM confidence of pseudo labels."""
import os.path as osp
from typing import Optional, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from mmseg_wsss.pseudo_labels.online import perplexity
from mmseg_wsss.structures import IGNORE_INDEX
from mmseg_wsss.utils.io import read_cam, read_label_map, read_saliency


def add_seg_field(results: dict, key: str) -> None:
    """Register ``key`` in ``results['seg_fields']`` once, so that stock
    geometric transforms (resize, crop, flip) apply to it exactly once."""
    seg_fields = results.setdefault('seg_fields', [])
    if key not in seg_fields:
        seg_fields.append(key)


def check_same_size(arr: np.ndarray, results: dict, path: str,
                    what: str) -> None:
    """Raise if ``arr`` is not the size of ``results['img_shape']``."""
    img_shape = results.get('img_shape')
    if img_shape is not None and tuple(arr.shape[:2]) != tuple(
            img_shape[:2]):
        raise ValueError(
            f'{what} {path} is {arr.shape[0]}x{arr.shape[1]} (HxW) but the '
            f'image {results.get("img_path")} is '
            f'{img_shape[0]}x{img_shape[1]} at this point of the pipeline')


def check_label_values(label: np.ndarray, num_classes: int,
                       path: str) -> None:
    """Raise if a label map holds a value that is neither a class index in
    ``0..num_classes-1`` nor 255."""
    bad = (label >= num_classes) & (label != IGNORE_INDEX)
    if bad.any():
        values = np.unique(label[bad]).tolist()
        raise ValueError(f'{path}: label values {values} are neither a class '
                         f'index 0..{num_classes - 1} nor {IGNORE_INDEX} '
                         '(ignore)')


@TRANSFORMS.register_module()
class LoadImageLevelLabels(BaseTransform):
    """Turn the foreground id list into a multi-hot vector.

    Required keys: ``img_labels`` (list of ids in ``1..C-1``), and
    ``num_classes`` unless given here. Added key: ``gt_img_labels``
    (float32 array of length ``C-1``; index ``c-1`` is class ``c``).

    Args:
        num_classes (int, optional): Classes including background. None reads
            ``results['num_classes']`` (set by the WSSS datasets).
        allow_missing (bool): Pass results without ``img_labels`` through
            unchanged (no ``gt_img_labels``), as in inference on a new image.
            Only for test pipelines; training pipelines keep it False so that
            a sample without labels is an error.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 allow_missing: bool = False) -> None:
        if num_classes is not None and num_classes < 2:
            raise ValueError(f'num_classes must be >= 2 (background and a '
                             f'class), got {num_classes}')
        self.num_classes = num_classes
        self.allow_missing = allow_missing

    def transform(self, results: dict) -> dict:
        """Add ``gt_img_labels``.

        Args:
            results (dict): Result dict with ``img_labels``.

        Returns:
            dict: The result dict with ``gt_img_labels``.

        Raises:
            KeyError: No ``img_labels`` (unless ``allow_missing``), or no
                ``num_classes``.
            ValueError: An empty label list or an id outside ``1..C-1``.
        """
        img_path = results.get('img_path')
        if 'img_labels' not in results:
            if self.allow_missing:
                return results
            raise KeyError(f'{img_path}: no `img_labels` in the results; use '
                           'a WSSS dataset (e.g. WSSSVOCDataset)')
        num_classes = self.num_classes or results.get('num_classes')
        if num_classes is None:
            raise KeyError(f'{img_path}: LoadImageLevelLabels needs '
                           '`num_classes` (argument or results key)')
        labels = np.asarray(results['img_labels'], dtype=np.int64)
        if labels.size == 0:
            raise ValueError(f'{img_path}: empty image-level label list')
        bad = labels[(labels < 1) | (labels >= num_classes)]
        if bad.size:
            raise ValueError(
                f'{img_path}: image-level labels {bad.tolist()} are outside '
                f'the foreground ids 1..{num_classes - 1}')
        multi_hot = np.zeros(num_classes - 1, dtype=np.float32)
        multi_hot[labels - 1] = 1
        results['gt_img_labels'] = multi_hot
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'allow_missing={self.allow_missing})')


@TRANSFORMS.register_module()
class LoadSaliencyMap(BaseTransform):
    """Load a grey saliency map as a seg field.

    Reads ``sal_label_path`` (an updated saliency label, set by
    ``WSSSVOCDataset.set_label_dirs``) when present, else ``sal_path`` (the
    off-the-shelf map), with :func:`~mmseg_wsss.utils.io.read_saliency`
    (8-bit grey / 255, 16-bit grey / 65535). Required keys: ``sal_path``,
    ``img_shape``. Added keys: ``gt_saliency`` (``H x W``; float32 in
    [0, 1], or uint8 {0, 1} with a threshold), and ``'gt_saliency'`` in
    ``seg_fields`` so that stock RandomResize, RandomCrop and RandomFlip
    transform it with the image (nearest interpolation). Load it before any
    geometric transform.

    Args:
        binarize_thr (float, optional): If set, saliency ``>= thr`` → 1,
            else 0.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self,
                 binarize_thr: Optional[float] = None,
                 backend_args: Optional[dict] = None) -> None:
        if binarize_thr is not None and not 0 <= binarize_thr <= 1:
            raise ValueError(
                f'binarize_thr must lie in [0, 1], got {binarize_thr}')
        self.binarize_thr = binarize_thr
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Add ``gt_saliency``.

        Args:
            results (dict): Result dict with ``sal_path``.

        Returns:
            dict: The result dict with ``gt_saliency``.
        """
        if 'sal_path' not in results:
            raise KeyError(f'{results.get("img_path")}: no `sal_path`; the '
                           'dataset needs a `saliency_dir`')
        path = results.get('sal_label_path', results['sal_path'])
        sal = read_saliency(path, self.backend_args)
        check_same_size(sal, results, path, 'saliency map')
        if self.binarize_thr is not None:
            sal = (sal >= self.binarize_thr).astype(np.uint8)
        results['gt_saliency'] = sal
        add_seg_field(results, 'gt_saliency')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(binarize_thr={self.binarize_thr})'


@TRANSFORMS.register_module()
class LoadPseudoLabel(BaseTransform):
    """Load a pseudo label map as ``gt_seg_map``, marked as pseudo.

    Required keys: ``pseudo_label_path``, ``img_shape``; ``num_classes``
    (optional, enables the value check). Added keys: ``gt_seg_map``
    (uint8 ``H x W``; packed as int64), ``'gt_seg_map'`` in ``seg_fields``,
    ``seg_map_is_pseudo=True``. Refuses to run when a ``gt_seg_map`` was
    already loaded, so that a GT mask can never pass as a pseudo label.

    Args:
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Add ``gt_seg_map`` from ``pseudo_label_path``.

        Args:
            results (dict): Result dict with ``pseudo_label_path``.

        Returns:
            dict: The result dict with the pseudo label.
        """
        img_path = results.get('img_path')
        if 'pseudo_label_path' not in results:
            raise KeyError(
                f'{img_path}: no `pseudo_label_path`; the dataset needs a '
                '`pseudo_label_dir` (or call set_label_dirs)')
        if 'gt_seg_map' in results:
            raise ValueError(
                f'{img_path}: a gt_seg_map is already loaded (e.g. by '
                'LoadAnnotations); LoadPseudoLabel would mix it up with the '
                'pseudo label. Load only one of them.')
        path = results['pseudo_label_path']
        label = read_label_map(path, 'pseudo label', self.backend_args)
        check_same_size(label, results, path, 'pseudo label')
        if results.get('num_classes') is not None:
            check_label_values(label, results['num_classes'], path)
        results['gt_seg_map'] = label
        results['seg_map_is_pseudo'] = True
        add_seg_field(results, 'gt_seg_map')
        return results


@TRANSFORMS.register_module()
class LoadCAMConfidence(BaseTransform):
    """Load the CAM confidence ``nu`` of a pseudo label as a seg field.

    cosa.md 5 (a): ``nu = max_c M_c``, the largest normalised foreground CAM
    of a pixel, read from the CAMs saved with the pseudo labels
    (``tools/make_pseudo_labels.py ... --save-cams`` writes
    ``<label dir>/cams/<id>.npy``, float16 ``(C - 1) x H x W``).

    Required keys: ``img_id``; ``pseudo_label_path`` unless ``cam_dir`` is
    given; ``num_classes`` (optional, enables the class-count check).
    Added keys: ``gt_cam_conf`` (float32 ``H x W`` in [0, 1]) and
    ``'gt_cam_conf'`` in ``seg_fields``, so that stock RandomResize,
    RandomCrop and RandomFlip move it with the pseudo label (nearest
    interpolation). Load it after LoadPseudoLabel and before any geometric
    transform.

    Args:
        cam_dir (str, optional): Folder of ``<img_id>.npy`` CAMs. None reads
            the ``cams`` folder beside the pseudo label, so that
            ``set_label_dirs`` moves both.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self,
                 cam_dir: Optional[str] = None,
                 backend_args: Optional[dict] = None) -> None:
        self.cam_dir = cam_dir
        self.backend_args = backend_args

    def _cam_path(self, results: dict) -> str:
        """The CAM file of this sample."""
        img_id = results.get('img_id')
        if img_id is None:
            raise KeyError(f'{results.get("img_path")}: no `img_id`; use a '
                           'WSSS dataset (e.g. WSSSVOCDataset)')
        if self.cam_dir is not None:
            return osp.join(self.cam_dir, f'{img_id}.npy')
        if 'pseudo_label_path' not in results:
            raise KeyError(
                f'{results.get("img_path")}: no `pseudo_label_path` to find '
                'the CAMs beside; set the dataset\'s `pseudo_label_dir` or '
                'the transform\'s `cam_dir`')
        return osp.join(
            osp.dirname(results['pseudo_label_path']), 'cams',
            f'{img_id}.npy')

    def transform(self, results: dict) -> dict:
        """Add ``gt_cam_conf``.

        Args:
            results (dict): Result dict with ``img_id``.

        Returns:
            dict: The result dict with ``gt_cam_conf``.

        Raises:
            FileNotFoundError: No CAM file (the message names it).
            ValueError: The CAMs are not one map per foreground class, not
                in [0, 1], or not the size of the label map (or of the
                image, before a label is loaded).
        """
        path = self._cam_path(results)
        cam = read_cam(path, self.backend_args)
        num_classes = results.get('num_classes')
        if num_classes is not None and cam.shape[0] != num_classes - 1:
            raise ValueError(
                f'CAM file {path} holds {cam.shape[0]} maps; expected one '
                f'per foreground class ({num_classes - 1})')
        conf = cam.max(axis=0)
        if not (np.isfinite(conf).all() and conf.min() >= 0
                and conf.max() <= 1):
            raise ValueError(
                f'CAM file {path} holds values in [{conf.min()}, '
                f'{conf.max()}]; expected normalised CAMs in [0, 1]')
        label = results.get('gt_seg_map')
        if label is None:
            check_same_size(conf, results, path, 'CAM file')
        elif label.shape[:2] != conf.shape:
            raise ValueError(
                f'CAM file {path} is {conf.shape[0]}x{conf.shape[1]} (HxW) '
                f'but the label map is {label.shape[0]}x{label.shape[1]}')
        results['gt_cam_conf'] = np.ascontiguousarray(conf)
        add_seg_field(results, 'gt_cam_conf')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(cam_dir={self.cam_dir!r})'


@TRANSFORMS.register_module()
class ComputeRAWReliability(BaseTransform):
    """Turn the CAM confidence into CoSA's reliability ``r = 1 / P``.

    cosa.md 2.8 / 5 (a), paper eq. 4: ``P`` is
    :func:`~mmseg_wsss.pseudo_labels.online.perplexity` of ``nu`` at the
    threshold ``xi`` that made the pseudo labels. ``RAWCrossEntropyLoss``
    renormalises ``r`` over the labelled pixels of a batch (eq. 5).

    Required keys: ``gt_cam_conf`` (LoadCAMConfidence). Added keys:
    ``gt_pixel_weight`` (float32 ``H x W``, in ``(0, 1 / -log
    lambda_alpha]``: 4.48 for the defaults) and ``'gt_pixel_weight'`` in
    ``seg_fields``. Packed by PackWSSSInputs; a ``PW<Head>`` decode head
    passes it to its loss.

    Args:
        threshold (float | tuple[float, float]): The pseudo labels'
            background threshold ``xi`` (e.g. the CAM baseline's
            ``bg_thr``), or ``(lo, hi)``.
        lambda_alpha (float): In (0, 1).
        lambda_beta (float): > 0.

    Raises:
        ValueError: A threshold or lambda out of range (as ``perplexity``).
    """

    def __init__(self,
                 threshold: Union[float, Tuple[float, float]] = 0.5,
                 lambda_alpha: float = 0.8,
                 lambda_beta: float = 1.0) -> None:
        perplexity(torch.zeros(1), threshold, lambda_alpha, lambda_beta)
        self.threshold = threshold
        self.lambda_alpha = lambda_alpha
        self.lambda_beta = lambda_beta

    def transform(self, results: dict) -> dict:
        """Add ``gt_pixel_weight``.

        Args:
            results (dict): Result dict with ``gt_cam_conf``.

        Returns:
            dict: The result dict with ``gt_pixel_weight``.
        """
        if 'gt_cam_conf' not in results:
            raise KeyError(f'{results.get("img_path")}: no `gt_cam_conf`; '
                           'add LoadCAMConfidence before '
                           'ComputeRAWReliability')
        conf = torch.from_numpy(np.asarray(results['gt_cam_conf'],
                                           dtype=np.float32))
        ppl = perplexity(conf, self.threshold, self.lambda_alpha,
                         self.lambda_beta)
        results['gt_pixel_weight'] = (1 / ppl).numpy()
        add_seg_field(results, 'gt_pixel_weight')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(threshold={self.threshold}, '
                f'lambda_alpha={self.lambda_alpha}, '
                f'lambda_beta={self.lambda_beta})')
