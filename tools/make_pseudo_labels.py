"""Trained CAM classifier -> pseudo labels (palette PNGs + meta.json).

Example (the CAM baseline of docs/benchmarks.md)::

    python tools/make_pseudo_labels.py \
        configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py \
        work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/iter_800.pth \
        --scales 1.0 0.5 1.5 2.0 --flip --bg-thr 0.3

Labels go to ``<work_dir>/pseudo_labels/cam/stage_0/<id>.png`` unless
``--out-dir`` says otherwise. An interrupted run resumes: existing labels are
kept and only the missing ones are generated. When the images have
ground-truth masks, the labels are scored (precision, recall, mIoU) into
``meta.json``. Under ``--launcher pytorch`` each rank labels its share.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.dist import get_dist_info, init_dist
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.registry import DATASETS, MODELS

import mmseg_wsss  # noqa: F401  (compat workarounds, registration)
from mmseg_wsss.engine import (CAMLabelGenerator, write_meta,
                               write_pseudo_labels)
from mmseg_wsss.evaluation.metrics import label_dir_stats, summarize

LABEL_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadImageLevelLabels'),
    dict(type='PackWSSSInputs'),
]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='classifier config')
    parser.add_argument('checkpoint', help='classifier checkpoint')
    parser.add_argument('--out-dir', help='label directory')
    parser.add_argument('--work-dir', help='work dir (default: the config\'s)')
    parser.add_argument(
        '--split', choices=['train', 'val'], default='train',
        help='label the train set (default) or the val set')
    parser.add_argument('--scales', type=float, nargs='+', default=[1.0])
    parser.add_argument('--flip', action='store_true', help='add flipped CAMs')
    parser.add_argument('--bg-thr', type=float, default=0.2)
    parser.add_argument(
        '--saliency-rule', choices=['auxsegnet', 'cian'],
        help='fuse CAMs with the dataset\'s saliency maps (the dataset needs '
        'saliency_dir)')
    parser.add_argument(
        '--crf', action='store_true', help='refine labels with a dense CRF')
    parser.add_argument(
        '--save-cams', action='store_true',
        help='also save CAMs as <out-dir>/../cams/<id>.npy (float16)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, xxx=yyy')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    return parser.parse_args(argv)


def build_label_dataset(cfg: Config, split: str):
    """The split's dataset, with a pipeline that keeps the image size."""
    loader = cfg.train_dataloader if split == 'train' else cfg.val_dataloader
    ds_cfg = loader.dataset.copy()
    ds_cfg.pipeline = LABEL_PIPELINE
    ds_cfg.pop('pseudo_label_dir', None)
    ds_cfg.test_mode = False
    return DATASETS.build(ds_cfg)


def score_labels(dataset, out_dir: str, num_classes: int) -> Optional[dict]:
    """Precision / recall / mIoU against the masks, if the masks exist."""
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    gt_paths = [info.get('seg_map_path') for info in infos]
    if not all(p and osp.isfile(p) for p in gt_paths):
        print_log('no ground-truth masks: labels not scored', logger='current')
        return None
    hist = label_dir_stats(out_dir, osp.dirname(gt_paths[0]),
                           [info['img_id'] for info in infos], num_classes)
    return summarize(hist)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher != 'none':
        init_dist(args.launcher, backend='gloo' if args.device == 'cpu'
                  else 'nccl')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    out_dir = args.out_dir or osp.join(work_dir, 'pseudo_labels', 'cam',
                                       'stage_0')

    cfg.model.pop('init_cfg', None)
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(args.device).eval()

    dataset = build_label_dataset(cfg, args.split)
    generator = CAMLabelGenerator(
        scales=args.scales,
        flip=args.flip,
        bg_thr=args.bg_thr,
        saliency_rule=args.saliency_rule,
        crf=dict() if args.crf else None)
    cam_dir = osp.join(osp.dirname(out_dir), 'cams') \
        if args.save_cams else None
    meta = dict(
        config=osp.abspath(args.config),
        checkpoint=osp.abspath(args.checkpoint),
        split=args.split,
        scales=args.scales,
        flip=args.flip,
        bg_thr=args.bg_thr,
        saliency_rule=args.saliency_rule,
        crf=args.crf,
        num_images=len(dataset))
    write_pseudo_labels(model, dataset, generator, out_dir, cam_dir, meta)
    rank, _ = get_dist_info()
    scores = None
    if rank == 0:
        num_classes = len(dataset.metainfo['classes'])
        scores = score_labels(dataset, out_dir, num_classes)
        if scores is not None:
            write_meta(dict(scores=scores), out_dir)
            print_log(
                'pseudo labels vs masks: ' + ', '.join(
                    f'{k} {v:.2f}' for k, v in scores.items()
                    if isinstance(v, float)), logger='current')
    return dict(out_dir=out_dir, scores=scores)


if __name__ == '__main__':
    main()
