"""Workarounds for the pinned stack, each applied only when its problem exists.

1. ``torch.load`` defaults to ``weights_only=True`` (torch >= 2.6) and refuses
   mmengine's ``HistoryBuffer`` and numpy scalars that every Runner checkpoint
   carries in its message hub. Exactly those types are allow-listed, and the
   ``getattr`` that pickles ``HistoryBuffer``'s statistics methods is replaced
   by one that returns those methods and nothing else; a checkpoint with an
   arbitrary pickled object is still refused.
2. With ``mmcv-lite`` there is no compiled ``mmcv._ext``, yet ``mmseg.utils``
   imports ``mmcv.ops`` unconditionally. A stand-in module is registered whose
   functions raise a clear error when called.
3. The CPU torch cannot load torchvision's CUDA-linked ``_C.so``, which
   ``torchvision._meta_registrations`` touches at import. That module is
   stubbed before torchvision is imported.
"""
import atexit
import importlib.util
import pickle
import sys
import types
from typing import Callable, List

import numpy as np
import torch

MMCV_EXT = 'mmcv._ext'
TV_META = 'torchvision._meta_registrations'


def checkpoint_safe_globals() -> List[type]:
    """The non-tensor types a Runner checkpoint carries besides containers:
    ``HistoryBuffer`` (whose history is a numpy array) and numpy scalars."""
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    dtypes = [type(np.dtype(t)) for t in (
        np.float64, np.float32, np.float16, np.int64, np.int32, np.int16,
        np.int8, np.uint8, np.bool_)]
    return [
        HistoryBuffer, multiarray.scalar, multiarray._reconstruct, np.ndarray,
        np.dtype
    ] + dtypes


HISTORY_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: object, name: str) -> Callable:
    """``getattr`` for unpickling: only ``HistoryBuffer``'s statistics.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which
    pickle as ``getattr(HistoryBuffer, 'min')``; any other attribute
    lookup in a checkpoint is refused.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in HISTORY_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only '
        f'HistoryBuffer.{{{",".join(HISTORY_STATISTICS)}}} are allowed')


def allow_checkpoint_types() -> bool:
    """Allow-list Runner checkpoint types for ``torch.load(weights_only)``.

    Returns:
        bool: True if the allow-list was (or already is) installed.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4: no weights_only default, nothing to do
        return False
    add(checkpoint_safe_globals())
    add([(history_buffer_getattr, '__builtin__.getattr'),
         (history_buffer_getattr, 'builtins.getattr')])
    return True


def _unavailable_op(name: str) -> Callable:

    def op(*args, **kwargs):
        raise RuntimeError(
            f'mmcv op `{name}` is not available: mmcv-lite has no compiled '
            'ops. Install full mmcv (`make install MMCV_FULL=1`) to use it.')

    op.__name__ = name
    return op


def _stand_in_ext() -> types.ModuleType:
    """A ``mmcv._ext`` module whose every attribute is a raising op."""
    module = types.ModuleType(MMCV_EXT)
    module.__spec__ = importlib.util.spec_from_loader(MMCV_EXT, loader=None)
    module.__file__ = '<mmseg_wsss stand-in for mmcv._ext>'
    module.__getattr__ = _unavailable_op
    return module


def stub_mmcv_ext() -> bool:
    """Register the stand-in ``mmcv._ext`` if mmcv has no compiled ops.

    Returns:
        bool: True if the stand-in is in place.
    """
    if MMCV_EXT in sys.modules:
        return getattr(sys.modules[MMCV_EXT], '__file__', '').startswith(
            '<mmseg_wsss')
    if importlib.util.find_spec('mmcv') is None:
        return False
    if importlib.util.find_spec(MMCV_EXT) is not None:
        return False
    sys.modules[MMCV_EXT] = _stand_in_ext()
    return True


def stub_torchvision_meta() -> bool:
    """Stub ``torchvision._meta_registrations`` for a CPU-only torch.

    Returns:
        bool: True if the stub is in place.
    """
    if TV_META in sys.modules:
        return getattr(sys.modules[TV_META], '__file__', '').startswith(
            '<mmseg_wsss')
    if 'torchvision' in sys.modules or torch.version.cuda is not None:
        return False
    if importlib.util.find_spec('torchvision') is None:
        return False
    module = types.ModuleType(TV_META)
    module.__spec__ = importlib.util.spec_from_loader(TV_META, loader=None)
    module.__file__ = '<mmseg_wsss stub: CPU torch cannot load CUDA kernels>'
    sys.modules[TV_META] = module
    return True


def _close_process_group() -> None:
    """Leave together, then close the group: a rank whose gloo peer has
    already exited can abort ("terminate called without an active
    exception")."""
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def setup_cpu_distributed(cfg, launcher: str) -> bool:
    """Adapt a config (and start the process group) for CPU-only DDP.

    Without CUDA: the gloo backend (NCCL needs GPUs); a DDP wrapper without
    ``device_ids`` (mmengine passes ``LOCAL_RANK``, which DDP refuses for CPU
    modules); and, for ``launcher='pytorch'``, the gloo group started here,
    because mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which a
    CPU-only torch lacks (the Runner then skips it).

    Args:
        cfg (Config): The run's config, changed in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        bool: Whether anything was changed.
    """
    import torch
    import torch.distributed as dist
    if launcher == 'none' or torch.cuda.is_available():
        return False
    cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = dict(wrapper, device_ids=None)
    if launcher == 'pytorch' and not dist.is_initialized():
        dist.init_process_group(backend='gloo')
        atexit.register(_close_process_group)
    return True


def apply() -> None:
    """Apply every workaround whose problem is present."""
    stub_torchvision_meta()
    stub_mmcv_ext()
    allow_checkpoint_types()
