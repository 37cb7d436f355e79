"""tools/substitute_gt_labels.py: seeds with a ratio of GT masks (CIAN
Table 4) on the toy set, the meta that makes a run traceable, and the
refusals."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mmseg_wsss.datasets.toy import make_toy_dataset
from mmseg_wsss.pseudo_labels import StaleLabelsError, update_meta, write_meta
from mmseg_wsss.utils.io import read_label_map, save_label_png

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import substitute_gt_labels  # noqa: E402

NUM_TRAIN = 10
SEEDS_IDENTITY = dict(generator=dict(type='ByHand'), model='0' * 40)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_dataset(
        str(root), num_train=NUM_TRAIN, num_val=1, size=32, seed=3)
    return str(root)


@pytest.fixture(scope='module')
def ids(toy_root):
    return open(osp.join(toy_root,
                         'ImageSets/Segmentation/train.txt')).read().split()


@pytest.fixture
def seeds(toy_root, ids, tmp_path):
    """A complete seed folder written by hand: every seed differs from its
    mask (classes shifted by one, 255 kept)."""
    out = str(tmp_path / 'seeds')
    write_meta(out, dict(identity=SEEDS_IDENTITY, complete=False))
    for img_id in ids:
        gt = _gt(toy_root, img_id)
        seed = np.where(gt == 255, 255, (gt + 1) % 5).astype(np.uint8)
        assert not np.array_equal(seed, gt)
        save_label_png(seed, osp.join(out, f'{img_id}.png'))
    update_meta(out, complete=True)
    return out


def _gt(root, img_id):
    return read_label_map(osp.join(root, 'SegmentationClass', f'{img_id}.png'))


def _run(seeds, out, root, *extra):
    return substitute_gt_labels.main(
        [seeds, str(out), '--data-root', root, *map(str, extra)])


def _gt_ids_on_disk(out, seeds, root, ids):
    """The ids whose label equals the mask; every other label equals its
    seed."""
    gt_ids = []
    for img_id in ids:
        label = read_label_map(osp.join(out, f'{img_id}.png'))
        if np.array_equal(label, _gt(root, img_id)):
            gt_ids.append(img_id)
        else:
            assert np.array_equal(
                label, read_label_map(osp.join(seeds, f'{img_id}.png')))
    return gt_ids


@pytest.mark.parametrize('ratio', [0.1, 0.25, 0.3])
def test_ratio_of_masks_and_meta(seeds, toy_root, ids, tmp_path, ratio):
    out = tmp_path / 'out'
    result = _run(seeds, out, toy_root, '--ratio', ratio, '--seed', 2)
    on_disk = _gt_ids_on_disk(out, seeds, toy_root, ids)
    assert len(on_disk) == round(ratio * NUM_TRAIN)
    assert on_disk == result['gt_ids']
    assert sorted(p.stem for p in out.glob('*.png')) == sorted(ids)
    meta = json.load(open(out / 'meta.json'))
    assert meta['complete']
    assert meta['identity']['source'] == SEEDS_IDENTITY
    sub = meta['identity']['gt_substitution']
    assert (sub['ratio'], sub['seed'], sub['gt_ids']) == (ratio, 2, on_disk)
    assert sub['gt_dir'] == osp.join(toy_root, 'SegmentationClass')
    assert meta['info']['seeds_dir'] == seeds
    assert meta['info']['num_gt'] == len(on_disk)


def test_seed_decides_the_ids(seeds, toy_root, tmp_path):
    picks = {
        (ratio, seed):
        _run(seeds, tmp_path / f'{ratio}_{seed}', toy_root, '--ratio', ratio,
             '--seed', seed)['gt_ids']
        for ratio, seed in [(0.3, 0), (0.3, 1), (0.5, 0)]
    }
    again = _run(seeds, tmp_path / 'again', toy_root, '--ratio', 0.3, '--seed',
                 0)['gt_ids']
    assert again == picks[0.3, 0]
    assert picks[0.3, 1] != picks[0.3, 0]
    # one seed: the picks of a smaller ratio are among a larger one's
    assert set(picks[0.3, 0]) < set(picks[0.5, 0])


def test_ratio_zero_copies_and_one_is_all_masks(seeds, toy_root, ids,
                                                tmp_path):
    assert _run(seeds, tmp_path / 'zero', toy_root, '--ratio', 0, '--gt-dir',
                'no_masks')['gt_ids'] == []
    assert _gt_ids_on_disk(tmp_path / 'zero', seeds, toy_root, ids) == []
    assert _run(seeds, tmp_path / 'one', toy_root, '--ratio',
                1)['gt_ids'] == ids
    assert _gt_ids_on_disk(tmp_path / 'one', seeds, toy_root, ids) == ids


def test_rerun_is_reused_other_request_refused_then_overwritten(
        seeds, toy_root, ids, tmp_path):
    out = tmp_path / 'out'
    first = _run(seeds, out, toy_root, '--ratio', 0.3)['gt_ids']
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob('*.png')}
    _run(seeds, out, toy_root, '--ratio', 0.3)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob('*.png')} == stamps
    with pytest.raises(
            StaleLabelsError,
            match=r'gt_substitution\.seed: 0 \(on disk\) vs 1'):
        _run(seeds, out, toy_root, '--ratio', 0.3, '--seed', 1)
    assert _gt_ids_on_disk(out, seeds, toy_root, ids) == first
    other = _run(seeds, out, toy_root, '--ratio', 0.3, '--seed', 1,
                 '--overwrite')['gt_ids']
    assert _gt_ids_on_disk(out, seeds, toy_root, ids) == other != first
    # new seeds in SEEDS_DIR make the folder stale too
    update_meta(seeds, identity=dict(SEEDS_IDENTITY, model='1' * 40))
    with pytest.raises(StaleLabelsError, match=r'source\.model'):
        _run(seeds, out, toy_root, '--ratio', 0.3, '--seed', 1)


@pytest.mark.parametrize('ratio', [-0.1, 1.5, float('nan')])
def test_ratio_outside_unit_interval_refused(seeds, toy_root, tmp_path, ratio):
    with pytest.raises(ValueError, match=r'--ratio must lie in \[0, 1\]'):
        _run(seeds, tmp_path / 'out', toy_root, '--ratio', ratio)
    assert not (tmp_path / 'out').exists()


def test_seed_folder_without_complete_meta_refused(seeds, toy_root, tmp_path):
    out = tmp_path / 'out'
    update_meta(seeds, complete=False)
    with pytest.raises(ValueError, match='meta.json is not marked complete'):
        _run(seeds, out, toy_root, '--ratio', 0.3)
    write_meta(seeds, dict(complete=True))
    with pytest.raises(ValueError, match="has no 'identity'"):
        _run(seeds, out, toy_root, '--ratio', 0.3)
    os.remove(osp.join(seeds, 'meta.json'))
    with pytest.raises(FileNotFoundError, match='meta.json not found'):
        _run(seeds, out, toy_root, '--ratio', 0.3)
    assert not out.exists()


def test_missing_seed_named(seeds, toy_root, ids, tmp_path):
    os.remove(osp.join(seeds, f'{ids[4]}.png'))
    with pytest.raises(
            FileNotFoundError,
            match=rf'1 of the {NUM_TRAIN} seeds .*{ids[4]}\.png'):
        _run(seeds, tmp_path / 'out', toy_root, '--ratio', 0.3)
    assert not (tmp_path / 'out').exists()


def test_missing_mask_named(seeds, toy_root, ids, tmp_path):
    gt_ids = substitute_gt_labels.pick_ids(ids, 0.3, 0)
    masks = tmp_path / 'masks'
    shutil.copytree(osp.join(toy_root, 'SegmentationClass'), masks)
    os.remove(masks / f'{gt_ids[1]}.png')
    with pytest.raises(
            FileNotFoundError,
            match=rf'1 of the 3 picked .*masks/{gt_ids[1]}\.png'):
        _run(seeds, tmp_path / 'out', toy_root, '--ratio', 0.3, '--gt-dir',
             masks)
    assert not (tmp_path / 'out').exists()
    # a mask that is not picked may be missing
    os.remove(masks / f'{sorted(set(ids) - set(gt_ids))[0]}.png')
    shutil.copy(
        osp.join(toy_root, 'SegmentationClass', f'{gt_ids[1]}.png'), masks)
    _run(seeds, tmp_path / 'out', toy_root, '--ratio', 0.3, '--gt-dir', masks)


def test_mask_of_another_size_refused(seeds, toy_root, ids, tmp_path):
    gt_id = substitute_gt_labels.pick_ids(ids, 0.3, 0)[0]
    save_label_png(np.zeros((8, 8), np.uint8), osp.join(seeds, f'{gt_id}.png'))
    with pytest.raises(
            ValueError, match=rf'{gt_id}\.png is \(32, 32\).*\(8, 8\)'):
        _run(seeds, tmp_path / 'out', toy_root, '--ratio', 0.3)


def test_out_dir_is_seeds_dir_refused(seeds, toy_root):
    with pytest.raises(ValueError, match='is SEEDS_DIR'):
        _run(seeds, seeds, toy_root, '--ratio', 0.3)


def test_command_line(seeds, toy_root, tmp_path):
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'substitute_gt_labels.py'), seeds,
        str(tmp_path / 'out'), '--ratio', '0.1', '--data-root', toy_root
    ],
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '1 of 10 labels are ground-truth masks' in proc.stdout + \
        proc.stderr


def test_bad_ratio_is_refused_before_any_file_is_read(tmp_path):
    """No data root, no seeds: the ratio is the first thing checked."""
    for ratio in (1.5, -0.1):
        with pytest.raises(ValueError, match=r'--ratio must lie in \[0, 1\]'):
            _run(str(tmp_path / 'none'), tmp_path / 'out',
                 str(tmp_path / 'nowhere'), '--ratio', ratio)
    assert not (tmp_path / 'out').exists()
