"""Write "image | CAM | pseudo label | ground truth" PNG grids.

Any of the last three panels may be left out. CAMs are ``<id>.npy`` arrays
(``(C-1) x H x W`` or ``H x W``) shown as a jet heat-map of the max over
classes on the image; labels are drawn in the VOC palette (255 = white).

Example::

    python tools/visualize.py --data-root ../shared/data/synthvoc \\
        --split ImageSets/Segmentation/val.txt --label-dir pl/stage_0 \\
        --gt-dir SegmentationClass --out-dir vis --num 20
"""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.utils import track_iter_progress
from PIL import Image

from mmseg_wsss.utils.io import atomic_save, color_palette, load_label_png


def _check_size(img: np.ndarray, panel: np.ndarray, what: str) -> None:
    if panel.shape[-2:] != img.shape[:2]:
        raise ValueError(f'{what} size {panel.shape[-2:]} does not match the '
                         f'image size {img.shape[:2]}')


def colorize(label: np.ndarray,
             palette: Optional[np.ndarray] = None) -> np.ndarray:
    """``H x W`` label map to an ``H x W x 3`` uint8 colour image."""
    palette = color_palette() if palette is None else np.asarray(
        palette, dtype=np.uint8)
    label = np.asarray(label)
    if label.size and (label.min() < 0 or label.max() >= len(palette)):
        raise ValueError(f'label values [{label.min()}, {label.max()}] lie '
                         f'outside the palette of {len(palette)} colours')
    return palette[label]


def cam_heatmap(img: np.ndarray,
                cam: np.ndarray,
                alpha: float = 0.5) -> np.ndarray:
    """Jet heat-map of a CAM blended on the image.

    Args:
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        cam (np.ndarray): ``(C-1) x H x W`` or ``H x W`` values in [0, 1];
            the max over classes is shown.
        alpha (float): Weight of the heat-map.

    Returns:
        np.ndarray: ``H x W x 3`` uint8 RGB.
    """
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim == 3:
        cam = cam.max(0) if cam.shape[0] else np.zeros(cam.shape[1:])
    _check_size(img, cam, 'CAM')
    heat = cv2.applyColorMap(
        np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(heat, alpha, img, 1 - alpha, 0)


def overlay(img: np.ndarray,
            label: np.ndarray,
            palette: Optional[np.ndarray] = None,
            alpha: float = 0.5) -> np.ndarray:
    """Blend label colours on the image; background (0) stays the image.

    Args:
        img (np.ndarray): ``H x W x 3`` uint8 RGB image.
        label (np.ndarray): ``H x W`` label map (255 = ignore, drawn white).
        palette (np.ndarray, optional): ``N x 3`` colours; VOC by default.
        alpha (float): Weight of the colours.

    Returns:
        np.ndarray: ``H x W x 3`` uint8 RGB.
    """
    label = np.asarray(label)
    _check_size(img, label, 'label map')
    blend = img * (1 - alpha) + colorize(label, palette) * alpha
    out = np.where((label != 0)[..., None], np.round(blend), img)
    return out.astype(np.uint8)


def make_grid(img: np.ndarray,
              cam: Optional[np.ndarray] = None,
              label: Optional[np.ndarray] = None,
              gt: Optional[np.ndarray] = None,
              palette: Optional[np.ndarray] = None) -> np.ndarray:
    """Panels side by side: image, then CAM, label and GT where given.

    Returns:
        np.ndarray: ``H x (W * k) x 3`` uint8 RGB for k panels.
    """
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError('image must be H x W x 3 uint8 RGB, got shape '
                         f'{img.shape} dtype {img.dtype}')
    panels = [img]
    if cam is not None:
        panels.append(cam_heatmap(img, cam))
    for name, mask in (('label map', label), ('ground truth', gt)):
        if mask is not None:
            _check_size(img, np.asarray(mask), name)
            panels.append(colorize(mask, palette))
    return np.concatenate(panels, axis=1)


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as ``H x W x 3`` uint8 RGB."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'image not found or unreadable: {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


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
    return parser.parse_args(argv)


def _read_ids(args: argparse.Namespace) -> List[str]:
    if args.ids:
        ids = list(args.ids)
    else:
        path = osp.join(args.data_root, args.split)
        if not osp.isfile(path):
            raise FileNotFoundError(f'id list not found: {path}')
        with open(path) as f:
            ids = [line.strip() for line in f if line.strip()]
    return ids[:args.num] if args.num > 0 else ids


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Write one grid per id; returns the written paths."""
    args = parse_args(argv)
    gt_dir = osp.join(args.data_root, args.gt_dir) if args.gt_dir else None
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for img_id in track_iter_progress(_read_ids(args)):
        img = read_rgb(
            osp.join(args.data_root, args.img_dir, img_id + args.img_suffix))
        cam = label = gt = None
        if args.cam_dir:
            cam_path = osp.join(args.cam_dir, img_id + '.npy')
            if not osp.isfile(cam_path):
                raise FileNotFoundError(f'CAM not found: {cam_path}')
            cam = np.load(cam_path)
        if args.label_dir:
            label = load_label_png(osp.join(args.label_dir, img_id + '.png'))
        if gt_dir:
            gt = load_label_png(osp.join(gt_dir, img_id + '.png'))
        try:
            grid = make_grid(img, cam, label, gt)
        except ValueError as e:
            raise ValueError(f'{img_id}: {e}') from e
        out_path = osp.join(args.out_dir, img_id + '.png')
        save_rgb(grid, out_path)
        written.append(out_path)
    return written


if __name__ == '__main__':
    main()
