import importlib.util
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmseg_wsss import compat


class _Evil:
    """Unpickling this would run arbitrary code in a real attack."""


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


class _ToyDataset(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx)))


def _runner(work_dir, resume=False, max_iters=2):
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        resume=resume,
        default_scope='mmengine')


@pytest.fixture
def runner_ckpt(tmp_path):
    runner = _runner(tmp_path / 'run')
    runner.train()
    return tmp_path / 'run' / 'iter_2.pth'


def test_runner_checkpoint_loads_for_test_and_resume(runner_ckpt):
    ckpt = torch.load(runner_ckpt)  # the weights_only default
    history = ckpt['message_hub']['log_scalars']
    assert any(type(v).__name__ == 'HistoryBuffer' for v in history.values())
    resumed = _runner(runner_ckpt.parent, resume=True, max_iters=4)
    resumed.train()
    assert resumed.iter == 4
    tester = _runner(runner_ckpt.parent)
    tester.load_checkpoint(str(runner_ckpt))


def test_allow_list_is_what_makes_checkpoints_load(runner_ckpt):
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError):
            torch.load(runner_ckpt)
        assert compat.allow_checkpoint_types()
        torch.load(runner_ckpt)
    finally:
        compat.allow_checkpoint_types()


def test_arbitrary_pickled_object_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, payload=_Evil()), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    from mmengine.runner import load_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(nn.Linear(1, 1), str(path))


def test_mmcv_ext_stand_in_in_fresh_interpreter():
    code = (
        'import importlib.util\n'
        'had_ext = importlib.util.find_spec("mmcv._ext") is not None\n'
        'import mmseg_wsss, mmseg.utils, mmseg.models\n'
        'import mmcv._ext as ext\n'
        'assert ext.__spec__ is not None\n'
        'if not had_ext:\n'
        '    try:\n'
        '        ext.nms()\n'
        '    except RuntimeError as e:\n'
        '        assert "mmcv-lite" in str(e)\n'
        '    else:\n'
        '        raise AssertionError("stand-in op did not raise")\n'
        'print("ok", had_ext)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith('ok')


def _fake_find_spec(present):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name in present:
            return importlib.util.spec_from_loader(name, loader=None)
        return real(name, *args)

    return find_spec


def test_mmcv_ext_not_stubbed_when_compiled_ops_exist(monkeypatch):
    monkeypatch.delitem(sys.modules, compat.MMCV_EXT, raising=False)
    monkeypatch.setattr(importlib.util, 'find_spec',
                        _fake_find_spec({compat.MMCV_EXT}))
    assert not compat.stub_mmcv_ext()
    assert compat.MMCV_EXT not in sys.modules


def test_mmcv_ext_stubbed_when_missing(monkeypatch):
    monkeypatch.delitem(sys.modules, compat.MMCV_EXT, raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec',
        lambda name, *a: None if name == compat.MMCV_EXT else real(name, *a))
    assert compat.stub_mmcv_ext()
    with pytest.raises(RuntimeError, match='roi_align'):
        sys.modules[compat.MMCV_EXT].roi_align()


def test_torchvision_meta_stub_only_when_needed(monkeypatch):
    monkeypatch.delitem(sys.modules, compat.TV_META, raising=False)
    monkeypatch.delitem(sys.modules, 'torchvision', raising=False)
    monkeypatch.setattr(importlib.util, 'find_spec',
                        _fake_find_spec({'torchvision'}))
    monkeypatch.setattr(torch.version, 'cuda', '12.8')
    assert not compat.stub_torchvision_meta()  # CUDA torch loads it fine
    monkeypatch.setattr(torch.version, 'cuda', None)
    assert compat.stub_torchvision_meta()
    assert isinstance(sys.modules[compat.TV_META], types.ModuleType)
    monkeypatch.delitem(sys.modules, compat.TV_META)
    monkeypatch.setitem(sys.modules, 'torchvision', types.ModuleType('tv'))
    assert not compat.stub_torchvision_meta()  # too late: already imported


class _Sneaky:
    """Pickles as getattr(np.ndarray, 'tofile'): an attribute lookup that
    a weights-only load must not perform."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_getattr_in_checkpoint_limited_to_history_buffer(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save(dict(payload=_Sneaky()), path, pickle_protocol=2)
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(path)
