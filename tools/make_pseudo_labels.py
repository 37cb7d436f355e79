"""A trained model + its config's label generator -> pseudo labels.

The generator is the config's ``label_generator`` (any registered one: the
CAM baseline's ``CAMLabelGenerator``, ``AuxSegNetLabelGenerator``, ...);
``--scales``, ``--flip``, ``--bg-thr`` and ``--cfg-options
label_generator.<key>=<value>`` change it. Example (the CAM baseline of
docs/benchmarks.md)::

    python tools/make_pseudo_labels.py \\
        configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py \\
        work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/iter_800.pth \\
        --scales 1.0 0.5 1.5 2.0 --flip --bg-thr 0.45

Labels go to ``<work_dir>/pseudo_labels/<generator>/stage_0/<id>.png``
unless ``--out-dir`` says otherwise, with a ``meta.json`` saying what made
them and, when the images have masks, how they score (precision, recall,
mIoU). An interrupted run resumes; a folder holding labels of another
request (other checkpoint, generator or thresholds) is refused unless
``--overwrite``. Under ``--launcher pytorch`` (also on CPU, with gloo) each
rank labels its share.
"""
import argparse
import inspect
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.registry import DATASETS, MODELS, TASK_UTILS

from mmseg_wsss import compat
from mmseg_wsss.evaluation.metrics import label_dir_stats, summarize
from mmseg_wsss.pseudo_labels import (label_identity, update_meta,
                                      write_pseudo_labels)

LABEL_PIPELINE = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(type='PackWSSSInputs'),
]
GENERATOR_FLAGS = dict(scales='scales', flip='flip', bg_thr='rule.bg_thr')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the model config (with a '
                        'label_generator)')
    parser.add_argument('checkpoint', help='the model checkpoint')
    parser.add_argument('--out-dir', help='label directory')
    parser.add_argument('--work-dir', help='work dir (default: the config\'s)')
    parser.add_argument(
        '--split', choices=['train', 'val'], default='train',
        help='label the train set (default) or the val set')
    parser.add_argument(
        '--scales', type=float, nargs='+', help='label_generator.scales')
    parser.add_argument(
        '--flip', action='store_true', default=None,
        help='label_generator.flip=True')
    parser.add_argument(
        '--bg-thr', type=float, help='label_generator.rule.bg_thr')
    parser.add_argument(
        '--save-cams', action='store_true',
        help='also save CAMs as <out-dir>/cams/<id>.npy (float16)')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='relabel a folder that holds labels of another request')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, xxx=yyy')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    return parser.parse_args(argv)


def generator_config(cfg: Config, args: argparse.Namespace) -> dict:
    """The config's ``label_generator`` with the command-line overrides."""
    if 'label_generator' not in cfg:
        raise KeyError(f'{args.config} has no label_generator; add one (e.g. '
                       "label_generator = dict(type='CAMLabelGenerator'))")
    overrides = {
        key: getattr(args, flag)
        for flag, key in GENERATOR_FLAGS.items()
        if getattr(args, flag) is not None
    }
    accepted = inspect.signature(
        TASK_UTILS.get(cfg.label_generator.type)).parameters
    for key in overrides:
        if key.split('.')[0] not in accepted:
            raise ValueError(
                f'--{key.split(".")[-1].replace("_", "-")} sets '
                f'label_generator.{key}, which '
                f'{cfg.label_generator.type} does not take; use --cfg-options'
                ' label_generator.<key>=<value>')
    cfg.merge_from_dict({f'label_generator.{k}': v
                         for k, v in overrides.items()})
    return cfg.label_generator.to_dict()


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
    generator_cfg = generator_config(cfg, args)
    if args.launcher != 'none':
        if not compat.setup_cpu_distributed(cfg, args.launcher):
            from mmengine.dist import init_dist
            init_dist(args.launcher)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    name = generator_cfg['type'].replace('LabelGenerator', '').lower()
    out_dir = args.out_dir or osp.join(work_dir, 'pseudo_labels', name,
                                       'stage_0')

    cfg.model.pop('init_cfg', None)
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(args.device).eval()

    dataset = build_label_dataset(cfg, args.split)
    write_pseudo_labels(
        model,
        dataset,
        TASK_UTILS.build(generator_cfg),
        out_dir,
        identity=label_identity(model, dataset, generator_cfg),
        info=dict(
            config=osp.abspath(args.config),
            checkpoint=osp.abspath(args.checkpoint),
            split=args.split),
        on_mismatch='overwrite' if args.overwrite else 'raise',
        save_cams=args.save_cams)
    rank, _ = get_dist_info()
    scores = None
    if rank == 0:
        num_classes = len(dataset.metainfo['classes'])
        scores = score_labels(dataset, out_dir, num_classes)
        if scores is not None:
            update_meta(out_dir, scores=scores)
            print_log(
                'pseudo labels vs masks: ' + ', '.join(
                    f'{k} {v:.2f}' for k, v in scores.items()
                    if isinstance(v, float)), logger='current')
    return dict(out_dir=out_dir, scores=scores)


if __name__ == '__main__':
    main()
