"""``meta.json`` of a label folder: what produced the labels, and whether a
folder on disk may be reused for what would be written now.

A folder's meta holds ``identity`` (everything that determines the labels:
the generator config, a fingerprint of the model weights, the labelled
dataset), ``complete`` (all labels written) and free ``info`` (paths,
iteration, scores). A folder is reused, or an interrupted generation
resumed, only when its ``identity`` equals the one of the current request.
"""
import hashlib
import json
import os.path as osp
from typing import Dict, List, Optional

import torch
from torch import nn

from ..utils.io import atomic_write

META_FILE = 'meta.json'


def model_fingerprint(model: nn.Module) -> str:
    """SHA-1 of a model's state dict (names, dtypes, shapes and values).

    Two models give the same fingerprint exactly when they would produce the
    same labels with the same generator (same weights and buffers).

    Args:
        model (nn.Module): The labelling model (unwrapped).

    Returns:
        str: 40 hex digits.
    """
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)}'.encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_meta(out_dir: str) -> Optional[dict]:
    """The folder's meta, or None when it has none.

    Raises:
        ValueError: ``meta.json`` is not valid JSON (names the file).
    """
    path = osp.join(out_dir, META_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not valid JSON ({e}); delete the folder '
                         'to relabel') from e


def write_meta(out_dir: str, meta: dict) -> None:
    """Write ``out_dir/meta.json`` atomically (replacing any previous one)."""
    with atomic_write(osp.join(out_dir, META_FILE), 'w') as f:
        f.write(json.dumps(meta, indent=2, default=str))


def update_meta(out_dir: str, **fields) -> dict:
    """Merge ``fields`` into the folder's meta and write it back."""
    meta = {**(read_meta(out_dir) or {}), **fields}
    write_meta(out_dir, meta)
    return meta


def normalize(obj: object) -> object:
    """``obj`` as plain JSON types (tuples become lists, ConfigDicts dicts),
    so an identity compares equal to itself after a round trip to disk."""
    return json.loads(json.dumps(obj, default=str))


def identity_diff(on_disk: dict, now: dict) -> List[str]:
    """Readable differences between two identities.

    A key absent on one side equals ``None`` on the other: an option added
    later with the default ``None`` (off) does not make older labels stale.

    Returns:
        list[str]: One ``key: <on disk> (on disk) vs <now> (now)`` line per
        differing leaf, dotted keys for nested dicts; empty when equal.
    """
    on_disk, now = _flatten(normalize(on_disk)), _flatten(normalize(now))
    return [
        f'{key}: {on_disk.get(key, "<absent>")!r} (on disk) vs '
        f'{now.get(key, "<absent>")!r} (now)'
        for key in sorted(set(on_disk) | set(now))
        if on_disk.get(key) != now.get(key)
    ]


def _flatten(obj: object, prefix: str = '') -> Dict[str, object]:
    """Nested dicts as ``{dotted.key: leaf}``."""
    if not isinstance(obj, dict) or not obj:
        return {prefix: obj}
    flat = {}
    for key, value in obj.items():
        flat.update(_flatten(value, f'{prefix}.{key}' if prefix else key))
    return flat
