"""Convert timm ViT weights to mmseg ``VisionTransformer`` keys.

The source is a timm ``VisionTransformer`` state dict, e.g. the
``jx_vit_base_p16_224-80ecf9dd.pth`` that CoSA starts from (cosa.md §2.2):
a ``.pth`` holding the tensors (possibly under ``'state_dict'`` or
``'model'``, possibly with DDP's ``module.`` prefix) or a ``.safetensors``
file (needs the ``safetensors`` package). The ImageNet head is dropped; the
class token and the positional embedding are kept, so

    backbone=dict(type='VisionTransformer', img_size=224, patch_size=16,
        patch_bias=True, with_cls_token=True, final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6), ...,
        init_cfg=dict(type='Pretrained', checkpoint=(
            'checkpoints/vit-b16_in21k-in1k_timm-jx_mmseg.pth')))

loads it with no missing or unexpected key. ``patch_bias=True`` is needed:
timm's patch embedding has a bias, mmseg's default has none. The final
LayerNorm becomes ``ln1`` (mmseg's name for ``norm_cfg=dict(type='LN')``).
timm's ``qkv`` weight stacks q, k, v along the output dimension in the same
order as ``nn.MultiheadAttention.in_proj_weight``, so it is renamed, not
split. Keys with no mmseg counterpart are listed, not converted.

Usage (CoSA: SRC ``jx_vit_base_p16_224-80ecf9dd.pth``, DST
``checkpoints/vit-b16_in21k-in1k_timm-jx_mmseg.pth``):

    python tools/model_converters/vit_timm_to_mmseg.py SRC DST
"""
import argparse
import math
import pickle
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from mmseg_wsss.utils.io import atomic_write

# timm key (regex, full match) -> mmseg key (re.sub template)
RENAMES = (
    (r'cls_token', 'cls_token'),
    (r'pos_embed', 'pos_embed'),
    (r'patch_embed\.proj\.(weight|bias)', r'patch_embed.projection.\1'),
    (r'blocks\.(\d+)\.norm1\.(weight|bias)', r'layers.\1.ln1.\2'),
    (r'blocks\.(\d+)\.attn\.qkv\.weight',
     r'layers.\1.attn.attn.in_proj_weight'),
    (r'blocks\.(\d+)\.attn\.qkv\.bias', r'layers.\1.attn.attn.in_proj_bias'),
    (r'blocks\.(\d+)\.attn\.proj\.(weight|bias)',
     r'layers.\1.attn.attn.out_proj.\2'),
    (r'blocks\.(\d+)\.norm2\.(weight|bias)', r'layers.\1.ln2.\2'),
    (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
     r'layers.\1.ffn.layers.0.0.\2'),
    (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)', r'layers.\1.ffn.layers.1.\2'),
    (r'norm\.(weight|bias)', r'ln1.\1'),
)
# the ImageNet classifier and its pooling-side parts: dropped by design
HEAD_PREFIXES = ('head.', 'head_dist.', 'pre_logits.', 'fc_norm.')
REQUIRED_KEYS = ('cls_token', 'pos_embed', 'patch_embed.proj.weight',
                 'blocks.0.attn.qkv.weight', 'norm.weight')


def load_timm_state_dict(path: str) -> Dict[str, Tensor]:
    """Read the tensors of a timm checkpoint.

    Args:
        path (str): A ``.pth`` / ``.bin`` file read with
            ``torch.load(weights_only=True)`` (``argparse.Namespace`` allowed,
            as timm's training checkpoints store their ``args``), or a
            ``.safetensors`` file.

    Returns:
        dict: Key -> tensor, unwrapped from ``'state_dict'`` / ``'model'``
        and without a ``module.`` prefix.

    Raises:
        ImportError: A ``.safetensors`` file without the package.
        ValueError: The file holds objects that weights-only loading
            refuses, or no dict of tensors.
    """
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as e:
            raise ImportError(
                f'{path} is a .safetensors file: reading it needs the '
                '`safetensors` package (pip install safetensors)') from e
        checkpoint = load_file(path, device='cpu')
    else:
        try:
            with torch.serialization.safe_globals([argparse.Namespace]):
                checkpoint = torch.load(
                    path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as e:
            raise ValueError(
                'weights-only loading refused the file (it holds objects '
                'besides tensors); in a trusted environment re-save just its '
                f'state dict with torch.save: {e}') from e
    for wrapper in ('state_dict', 'model'):
        if isinstance(checkpoint, dict) and isinstance(
                checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
            break
    if not isinstance(checkpoint, dict) or not all(
            isinstance(v, Tensor) for v in checkpoint.values()):
        raise ValueError(f'{path} holds no state dict of tensors (got '
                         f'{type(checkpoint).__name__})')
    if checkpoint and all(k.startswith('module.') for k in checkpoint):
        checkpoint = {k[len('module.'):]: v for k, v in checkpoint.items()}
    return checkpoint


def check_timm_vit(state_dict: Dict[str, Tensor]) -> None:
    """Refuse a state dict that is not a timm ViT with a class token.

    Raises:
        ValueError: A key of :data:`REQUIRED_KEYS` is missing (also for
            ViTs whose final norm is ``fc_norm`` after average pooling), the
            blocks are not numbered 0..L-1, or ``pos_embed`` is not
            1 x (1 + n^2) x D (a class-token entry and a square grid, as
            mmseg's ``VisionTransformer`` expects).
    """
    missing = [k for k in REQUIRED_KEYS if k not in state_dict]
    if missing:
        raise ValueError(
            'not a timm ViT checkpoint with a class token and a final '
            f'norm: missing {missing} (first keys: {list(state_dict)[:5]})')
    blocks = sorted({
        int(m.group(1))
        for m in (re.match(r'blocks\.(\d+)\.', k) for k in state_dict) if m
    })
    if blocks != list(range(len(blocks))):
        raise ValueError(f'timm ViT blocks {blocks} are not numbered '
                         f'0..{len(blocks) - 1}')
    pos_embed = state_dict['pos_embed']
    tokens = pos_embed.shape[1] if pos_embed.ndim == 3 else 0
    grid = math.isqrt(tokens - 1) if tokens > 1 else 0
    if grid < 1 or grid * grid + 1 != tokens:
        raise ValueError(
            f'pos_embed of shape {tuple(pos_embed.shape)}: expected '
            '1 x (1 + n^2) x D (a class-token entry and a square grid); '
            'ViTs without the class-token position (no_embed_class) have '
            'no mmseg VisionTransformer counterpart')


def convert(
    state_dict: Dict[str, Tensor]
) -> Tuple['OrderedDict[str, Tensor]', List[str]]:
    """Rename timm ViT keys to mmseg ``VisionTransformer`` keys.

    Args:
        state_dict (dict): A timm ``VisionTransformer`` state dict.

    Returns:
        tuple: The renamed tensors (``OrderedDict``, source order) and the
        source keys left out: the ImageNet head (:data:`HEAD_PREFIXES`) and
        any key without an mmseg counterpart (register tokens, layer scale,
        ``norm_pre``, ...).

    Raises:
        ValueError: Not a timm ViT (:func:`check_timm_vit`).
    """
    check_timm_vit(state_dict)
    converted, unconverted = OrderedDict(), []
    for key, value in state_dict.items():
        for pattern, target in RENAMES:
            if re.fullmatch(pattern, key):
                converted[re.sub(pattern, target, key)] = value
                break
        else:
            unconverted.append(key)
    return converted, unconverted


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='timm ViT weights (.pth or .safetensors)')
    parser.add_argument('dst', help='output state dict (.pth)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        converted, unconverted = convert(load_timm_state_dict(args.src))
    except (ImportError, ValueError) as e:
        raise SystemExit(f'{args.src}: {e}') from e
    head = [k for k in unconverted if k.startswith(HEAD_PREFIXES)]
    other = [k for k in unconverted if not k.startswith(HEAD_PREFIXES)]
    with atomic_write(args.dst) as f:
        torch.save(converted, f)
    print_log(
        f'converted {len(converted)} tensors from {args.src} to {args.dst}; '
        f'dropped the ImageNet head: {head}',
        logger='current')
    if other:
        print_log(
            f'not converted (no counterpart in mmseg VisionTransformer; the '
            f'converted model lacks them): {other}',
            logger='current',
            level='WARNING')


if __name__ == '__main__':
    main()
