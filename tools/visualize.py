"""Write "image | CAM | pseudo label | ground truth" PNG grids.

Any of the last three panels may be left out. CAMs are ``<id>.npy`` arrays
(``(C-1) x H x W`` or ``H x W``); their max over classes is drawn on the
image by mmengine's ``Visualizer.draw_featmap`` (jet, stretched to the map's
min..max). Label maps are drawn on the image by mmseg's
``SegLocalVisualizer`` in the VOC palette (255 = white). Images are read
by ``read_image`` (EXIF orientation ignored, as the label maps are stored).

Example::

    python tools/visualize.py --data-root ../shared/data/synthvoc \\
        --split ImageSets/Segmentation/val.txt --label-dir pl/stage_0 \\
        --gt-dir SegmentationClass --out-dir vis --num 20
"""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch

import mmseg_wsss  # noqa: F401,I001  (compat shims before mmseg imports)
from mmengine.structures import PixelData
from mmengine.utils import track_iter_progress
from mmengine.visualization import Visualizer
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer
from PIL import Image

from mmseg_wsss.utils.io import (atomic_save, color_palette, read_cam,
                                 read_id_list, read_image, read_label_map)


def _check_size(img: np.ndarray, panel: np.ndarray, what: str) -> None:
    if panel.shape[-2:] != img.shape[:2]:
        raise ValueError(f'{what} size {panel.shape[-2:]} does not match the '
                         f'image size {img.shape[:2]}')


def label_visualizer(alpha: float = 0.5) -> SegLocalVisualizer:
    """A ``SegLocalVisualizer`` with the 256-colour VOC palette.

    Args:
        alpha (float): Weight of the label colours (and of the CAM
            heat-map in :func:`make_grid`).
    """
    visualizer = SegLocalVisualizer(name='wsss_visualize', alpha=alpha)
    palette = color_palette()
    # every uint8 value is a "class", so that 255 is drawn (white) too
    visualizer.set_dataset_meta(
        classes=[str(i) for i in range(len(palette))],
        palette=palette.tolist())
    return visualizer


def cam_heatmap(img: np.ndarray,
                cam: np.ndarray,
                alpha: float = 0.5) -> np.ndarray:
    """Jet heat-map of a CAM blended on the image (``draw_featmap``).

    Args:
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        cam (np.ndarray): ``(C-1) x H x W`` or ``H x W``; the max over
            classes is shown, stretched to its min..max.
        alpha (float): Weight of the heat-map.

    Returns:
        np.ndarray: ``H x W x 3`` uint8 RGB.

    Raises:
        ValueError: The CAM size differs from the image size.
    """
    cam = torch.as_tensor(np.asarray(cam, dtype=np.float32))
    if cam.ndim == 3:
        cam = cam.amax(0) if cam.shape[0] else torch.zeros(cam.shape[1:])
    _check_size(img, cam, 'CAM')
    return Visualizer.draw_featmap(
        cam[None], img, channel_reduction='squeeze_mean', alpha=alpha)


def overlay(visualizer: SegLocalVisualizer, img: np.ndarray,
            label: np.ndarray) -> np.ndarray:
    """Draw a label map on the image with ``SegLocalVisualizer``.

    Args:
        visualizer (SegLocalVisualizer): From :func:`label_visualizer`.
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        label (np.ndarray): ``H x W`` label map (255 = ignore).

    Returns:
        np.ndarray: ``H x W x 3`` uint8 RGB,
        ``img * (1 - alpha) + palette[label] * alpha``.

    Raises:
        ValueError: The label size differs from the image size.
    """
    label = torch.as_tensor(np.asarray(label, dtype=np.int64))
    _check_size(img, label, 'label map')
    sample = SegDataSample(gt_sem_seg=PixelData(data=label[None]))
    visualizer.add_datasample(
        'label', img, sample, draw_pred=False, with_labels=False)
    return visualizer.get_image()


def make_grid(visualizer: SegLocalVisualizer,
              img: np.ndarray,
              cam: Optional[np.ndarray] = None,
              label: Optional[np.ndarray] = None,
              gt: Optional[np.ndarray] = None) -> np.ndarray:
    """Panels side by side: image, then CAM, label and GT where given.

    Args:
        visualizer (SegLocalVisualizer): From :func:`label_visualizer`; its
            ``alpha`` weights every overlay.
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        cam (np.ndarray, optional): CAM, see :func:`cam_heatmap`.
        label (np.ndarray, optional): ``H x W`` pseudo label.
        gt (np.ndarray, optional): ``H x W`` ground truth.

    Returns:
        np.ndarray: ``H x (W * k) x 3`` uint8 RGB for k panels.

    Raises:
        ValueError: The image is not ``H x W x 3`` uint8 or a panel's size
            differs from it.
    """
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError('image must be H x W x 3 uint8 RGB, got shape '
                         f'{img.shape} dtype {img.dtype}')
    panels = [img]
    if cam is not None:
        panels.append(cam_heatmap(img, cam, visualizer.alpha))
    for name, mask in (('label map', label), ('ground truth', gt)):
        if mask is not None:
            _check_size(img, np.asarray(mask), name)
            panels.append(overlay(visualizer, img, mask))
    return np.concatenate(panels, axis=1)


def save_rgb(img: np.ndarray, path: str) -> None:
    """Write an RGB uint8 array as a PNG, atomically."""
    atomic_save(Image.fromarray(img), path)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Image | CAM | pseudo label | GT grids as PNG')
    parser.add_argument('--data-root', required=True, help='dataset root')
    ids = parser.add_mutually_exclusive_group()
    ids.add_argument(
        '--split',
        default='ImageSets/Segmentation/train.txt',
        help='id list, relative to --data-root (or absolute)')
    ids.add_argument('--ids', nargs='+', help='image ids to draw')
    parser.add_argument(
        '--img-dir', default='JPEGImages', help='relative to --data-root')
    parser.add_argument('--img-suffix', default='.jpg')
    parser.add_argument('--cam-dir', help='directory of <id>.npy CAMs')
    parser.add_argument('--label-dir', help='directory of <id>.png labels')
    parser.add_argument(
        '--gt-dir', help='GT masks, relative to --data-root (or absolute)')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--num', type=int, default=20, help='first N ids (<= 0: all)')
    parser.add_argument(
        '--alpha', type=float, default=0.5,
        help='weight of the CAM and label colours on the image')
    return parser.parse_args(argv)


def _read_ids(args: argparse.Namespace) -> List[str]:
    ids = list(args.ids) if args.ids else read_id_list(
        osp.join(args.data_root, args.split))
    return ids[:args.num] if args.num > 0 else ids


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Write one grid per id; returns the written paths."""
    args = parse_args(argv)
    gt_dir = osp.join(args.data_root, args.gt_dir) if args.gt_dir else None
    os.makedirs(args.out_dir, exist_ok=True)
    visualizer = label_visualizer(args.alpha)
    written = []
    for img_id in track_iter_progress(_read_ids(args)):
        img = read_image(
            osp.join(args.data_root, args.img_dir, img_id + args.img_suffix))
        cam = label = gt = None
        if args.cam_dir:
            cam = read_cam(osp.join(args.cam_dir, img_id + '.npy'))
        if args.label_dir:
            label = read_label_map(
                osp.join(args.label_dir, img_id + '.png'), 'pseudo label')
        if gt_dir:
            gt = read_label_map(
                osp.join(gt_dir, img_id + '.png'), 'ground truth')
        try:
            grid = make_grid(visualizer, img, cam, label, gt)
        except ValueError as e:
            raise ValueError(f'{img_id}: {e}') from e
        out_path = osp.join(args.out_dir, img_id + '.png')
        save_rgb(grid, out_path)
        written.append(out_path)
    return written


if __name__ == '__main__':
    main()
