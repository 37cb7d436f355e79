"""Reuse a CAM-baseline classifier (CAMClassifier) as AuxSegNet's phase (a).

The two share the backbone and the CAMHead; only the head's place differs
(``decode_head`` there, ``auxiliary_head`` here). Usage:

    python tools/model_converters/cam_classifier_to_auxsegnet.py \
        work_dirs/cam_efficientnet-lite0_800it_synthvoc-224/iter_800.pth \
        work_dirs/auxsegnet-plus_efficientnet-lite0_800it_synthvoc-224_cls/iter_800.pth
"""
import argparse
import os
import os.path as osp

import torch

import mmseg_wsss  # noqa: F401  (weights-only loading of runner checkpoints)


def convert(state_dict: dict) -> dict:
    """Rename ``decode_head.*`` to ``auxiliary_head.*``."""
    if not any(k.startswith('decode_head.') for k in state_dict):
        raise KeyError('no decode_head.* weights: not a CAMClassifier '
                       'checkpoint')
    return {
        'auxiliary_head.' + k[len('decode_head.'):]
        if k.startswith('decode_head.') else k: v
        for k, v in state_dict.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='CAMClassifier checkpoint')
    parser.add_argument('dst', help='output checkpoint (AuxSegNet keys)')
    args = parser.parse_args()
    ckpt = torch.load(args.src, map_location='cpu')
    out = dict(
        state_dict=convert(ckpt.get('state_dict', ckpt)),
        meta=dict(converted_from=osp.abspath(args.src)))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = f'{args.dst}.{os.getpid()}.tmp'  # replaced at once, never shared
    torch.save(out, tmp)
    os.replace(tmp, args.dst)
    print(f'{args.src} -> {args.dst}: {len(out["state_dict"])} tensors')


if __name__ == '__main__':
    main()
