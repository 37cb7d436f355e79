import os.path as osp
import shutil
import subprocess

import pytest

ROOT = osp.join(osp.dirname(__file__), '..', '..')
STEPS = osp.abspath(osp.join(ROOT, 'bench', 'steps.sh'))
pytestmark = pytest.mark.skipif(
    shutil.which('bash') is None or not osp.exists('/usr/bin/time'),
    reason='needs bash and /usr/bin/time')


def run_step(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Source bench/steps.sh with PY=echo and run one `step`."""
    script = f'set -euo pipefail; source {STEPS}; step "$@"'
    env = dict(PY='echo', OUT=str(tmp_path / 'out'), PATH='/usr/bin:/bin')
    return subprocess.run(['bash', '-c', script, 'bash', *args],
                          cwd=tmp_path, env=env, capture_output=True,
                          text=True)


def test_step_runs_then_skips(tmp_path):
    out = tmp_path / 'out'
    first = run_step(tmp_path, 's', 'echo', 'train.py', '--work-dir', 'w')
    assert first.returncode == 0, first.stderr
    assert (out / 's.log').read_text() == 'train.py --work-dir w\n'
    assert (out / 'done.txt').read_text() == 's\n'
    second = run_step(tmp_path, 's', 'echo', 'other')
    assert 'done before, skipped' in second.stdout
    assert (out / 's.log').read_text() == 'train.py --work-dir w\n'


def fake_train(tmp_path, validates: bool = True) -> str:
    """A stand-in for tools/train.py: logs its arguments, then (if
    ``validates``) mmengine's final validation line."""
    script = tmp_path / 'train.sh'
    val = 'echo "Iter(val) [5/5]    mIoU: 1.0"' if validates else ''
    script.write_text(f'echo "$@"\n{val}\n')
    return str(script)


def test_resume_replaces_load_from(tmp_path):
    """A resumed step resumes from last_checkpoint, not from its load_from."""
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'last_checkpoint').write_text('w/iter_400.pth')
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 's.log').write_text('first part\n')
    res = run_step(tmp_path, 's', 'bash', fake_train(tmp_path), '--work-dir',
                   'w', '--cfg-options', 'a=1', 'load_from=cls.pth', 'b=2')
    assert res.returncode == 0, res.stderr
    logged = (tmp_path / 'out' / 's.log').read_text().splitlines()
    assert logged[0] == 'first part'
    assert logged[1].split() == [
        '--work-dir', 'w', '--cfg-options', 'load_from=w/iter_400.pth',
        'a=1', 'b=2', '--resume'
    ]


def test_resume_without_cfg_options(tmp_path):
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'last_checkpoint').write_text('w/iter_8.pth')
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 's.log').touch()
    res = run_step(tmp_path, 's', 'bash', fake_train(tmp_path), '--work-dir',
                   'w')
    assert res.returncode == 0, res.stderr
    logged = (tmp_path / 'out' / 's.log').read_text().splitlines()
    assert logged[0].split()[-3:] == [
        '--cfg-options', 'load_from=w/iter_8.pth', '--resume'
    ]
    assert 'resumed' in (tmp_path / 'out' / 'times.txt').read_text()
    assert (tmp_path / 'out' / 'done.txt').read_text() == 's\n'


def test_resume_without_validation_is_not_done(tmp_path):
    """Resumed from the final checkpoint (the run validated nothing, while
    an earlier run's validation is in the log): an error, not done."""
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'last_checkpoint').write_text('w/iter_8.pth')
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 's.log').write_text('Iter(val) [5/5]  mIoU: 2.0\n')
    res = run_step(tmp_path, 's', 'bash', fake_train(tmp_path, False),
                   '--work-dir', 'w')
    assert res.returncode == 1
    assert 'without a validation' in res.stderr
    assert not (tmp_path / 'out' / 'done.txt').exists()


def test_foreign_checkpoint_is_not_resumed(tmp_path):
    """A work dir whose checkpoint no step log accounts for is an error."""
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'last_checkpoint').write_text('w/iter_800.pth')
    res = run_step(tmp_path, 's', 'echo', 'train.py', '--work-dir', 'w')
    assert res.returncode == 1
    assert 'did not write' in res.stderr
    assert not (tmp_path / 'out' / 'done.txt').exists()


def test_bad_py_is_a_clear_error(tmp_path):
    script = f'source {STEPS}'
    res = subprocess.run(['bash', '-c', script],
                         cwd=tmp_path,
                         env=dict(PY='no-such-python -u', PATH='/usr/bin:/bin'),
                         capture_output=True,
                         text=True)
    assert res.returncode == 2
    assert "'no-such-python' is not a command" in res.stderr
