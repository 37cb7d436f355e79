"""Classification mAP of a CoSA checkpoint's classifiers on a test split.

Spec cosa.md 4, check 2 compares the CPL quality of guided and vanilla
CAMs "at equal classification mAP": this gives that mAP. Each image of the
config's ``test_dataloader`` (its own pipeline, one scale, no flip) goes
through one network (``--net``; by default the config's
``model.test_cfg.net``, AN when unset); the scores
are the final classifier's ``cls_score`` (the M' classifier) and the
earlier layer's ``cls_score_aux`` (M-dagger'), the targets the images'
``gt_img_labels``. AP per foreground class is scikit-learn's
``average_precision_score`` (the ``tests`` extra, never imported by the
package); mAP is their mean over the classes with at least one positive
image (the others are listed).

Usage:
    python bench/cls_map.py CONFIG CHECKPOINT [--net {assignment,online}] \\
        [--device cpu|cuda] [--cfg-options k=v ...] [--out r.json]
"""
import argparse
import importlib
import json
import logging
import os.path as osp
from typing import Dict, List, Optional, Tuple

import mmengine
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from mmseg.registry import MODELS
from torch.utils.data import DataLoader

import mmseg_wsss  # noqa: F401  (registers the modules)
from mmseg_wsss.models.segmentors.cosa import NETS
from mmseg_wsss.structures import stack_img_labels

SCORES = ('cls_score', 'cls_score_aux')
LOG_EVERY = 50


@torch.no_grad()
def class_scores(
        model: torch.nn.Module,
        dataloader: DataLoader,
        net: str = 'assignment') -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Both classifiers' scores of ``net`` over ``dataloader``.

    Args:
        model (CoSA): The segmentor, in eval mode.
        dataloader (DataLoader): Batches with ``gt_img_labels``.
        net (str): ``'assignment'`` (AN) or ``'online'`` (ON).

    Returns:
        tuple: ``{name: N x (C - 1) scores}`` for ``cls_score`` and
        ``cls_score_aux``, and the N x (C - 1) multi-hot targets.
    """
    network = model.assignment_net if net == 'assignment' else model.online
    scores: Dict[str, List[torch.Tensor]] = {name: [] for name in SCORES}
    labels = []
    for i, batch in enumerate(dataloader):
        data = model.data_preprocessor(batch, False)
        out = network(data['inputs'], with_seg=False)
        for name in SCORES:
            scores[name].append(out[name].float())
        labels.append(stack_img_labels(data['data_samples']))
        if (i + 1) % LOG_EVERY == 0:
            print_log(f'cls_map: {i + 1} / {len(dataloader)} batches',
                      logger='current')
    return ({
        name: torch.cat(s).cpu().numpy()
        for name, s in scores.items()
    }, torch.cat(labels).cpu().numpy())


def mean_ap(scores: np.ndarray, labels: np.ndarray) -> dict:
    """AP per class and their mean over the classes with a positive.

    Args:
        scores (np.ndarray): N x K scores (any monotone scale).
        labels (np.ndarray): N x K multi-hot targets.

    Returns:
        dict: ``mAP`` and ``ap`` (K values in %, None for a class without
        a positive image; ``mAP`` None if no class has one) and
        ``no_positive`` (those classes' indices).
    """
    from sklearn.metrics import average_precision_score
    ap: List[Optional[float]] = []
    for k in range(labels.shape[1]):
        if labels[:, k].any():
            ap.append(
                100 *
                float(average_precision_score(labels[:, k], scores[:, k])))
        else:
            ap.append(None)
    present = [value for value in ap if value is not None]
    return dict(mAP=float(np.mean(present)) if present else None,
                ap=ap,
                no_positive=[k for k, value in enumerate(ap) if value is None])


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a CoSA config file')
    parser.add_argument('checkpoint', help="the config's trained checkpoint")
    parser.add_argument(
        '--net',
        choices=NETS,
        help='the network whose classifiers are scored (default: the '
        "config's model.test_cfg.net, else assignment)")
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='where the model runs (default: cuda when available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    """Score a checkpoint; print (and with ``--out`` write) the results.

    Raises:
        ValueError: ``--out`` does not end in ``.json``, or the config's
            ``model.test_cfg.net`` is not a network name.
        ImportError: scikit-learn is not installed (the ``tests`` extra).
        FileNotFoundError: the checkpoint does not exist.
        TypeError: the config does not build a CoSA model.
        RuntimeError: the checkpoint's keys do not match the model.
    """
    args = parse_args(argv)
    # checked before the scoring pass, so a bad call fails at once
    if args.out is not None and not args.out.endswith('.json'):
        raise ValueError(f'cls_map: --out {args.out} must end in .json')
    try:
        importlib.import_module('sklearn.metrics')
    except ImportError as error:
        raise ImportError('cls_map: needs scikit-learn (pip install -e '
                          '".[tests]")') from error
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'cls_map: no checkpoint at {args.checkpoint}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    if not hasattr(model, 'assignment_net'):
        raise TypeError(f'cls_map scores CoSA models; {args.config} builds '
                        f'{type(model).__name__}')
    # CoSA checked test_cfg.net when it was built
    net = args.net or model.test_cfg.get('net', 'assignment')
    # strict: a checkpoint of another model must not score random weights
    load_checkpoint(model,
                    args.checkpoint,
                    map_location='cpu',
                    strict=True,
                    logger='current')
    model.eval()
    model.to(args.device)
    dataloader = Runner.build_dataloader(cfg.test_dataloader)
    scores, labels = class_scores(model, dataloader, net)
    results = dict(config=args.config,
                   checkpoint=args.checkpoint,
                   net=net,
                   images=len(labels),
                   **{
                       name: mean_ap(s, labels)
                       for name, s in scores.items()
                   })
    for name in SCORES:
        if results[name]['no_positive']:
            print_log(
                f"cls_map: {name}: classes "
                f"{results[name]['no_positive']} have no positive "
                'image; left out of the mean',
                logger='current',
                level=logging.WARNING)
    summary = dict(net=net, images=len(labels))
    for name in SCORES:
        value = results[name]['mAP']
        summary[name] = None if value is None else round(value, 2)
    print(json.dumps(summary))
    if args.out:
        mmengine.dump(results, args.out, indent=1)
    return results


if __name__ == '__main__':
    main()
