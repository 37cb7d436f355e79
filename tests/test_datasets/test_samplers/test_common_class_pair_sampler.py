"""CommonClassPairSampler / InfiniteCommonClassPairSampler (cian.md section 5,
section 13 property 12)."""
import itertools
import random

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mmseg_wsss.datasets import WSSSVOCDataset, make_toy_dataset
from mmseg_wsss.datasets.samplers import (CommonClassPairSampler,
                                          InfiniteCommonClassPairSampler,
                                          check_group_batch_size,
                                          common_class_groups)
from mmseg_wsss.datasets.samplers import \
    common_class_pair_sampler as sampler_module
from mmseg_wsss.datasets.toy import TOY_CLASSES, TOY_PALETTE
from mmseg_wsss.engine import SkipSampler
from mmseg_wsss.engine.runner.stagewise_train_loop import _is_infinite_sampler


class FakeLabelDataset:
    """Image labels only; ``dataset[i]`` is ``i`` (no image to load)."""

    def __init__(self, labels):
        self.labels = [list(classes) for classes in labels]

    def __len__(self):
        return len(self.labels)

    def get_data_info(self, idx):
        return dict(img_labels=list(self.labels[idx]), img_id=f'img_{idx}')

    def __getitem__(self, idx):
        return idx


def random_labels(num, num_classes=6, seed=0):
    """1..3 classes per image out of ``1..num_classes``."""
    rng = random.Random(seed)
    return [
        sorted(rng.sample(range(1, num_classes + 1), rng.randint(1, 3)))
        for _ in range(num)
    ]


def groups_of(stream, group_size):
    assert len(stream) % group_size == 0
    return [
        stream[k:k + group_size] for k in range(0, len(stream), group_size)
    ]


def assert_groups_share(groups, labels):
    for group in groups:
        for j, member in enumerate(group):
            for earlier in group[:j]:
                assert set(labels[member]) & set(labels[earlier]), (
                    group, [labels[i] for i in group])


def dist(monkeypatch, rank, world_size):
    monkeypatch.setattr(sampler_module, 'get_dist_info',
                        lambda: (rank, world_size))


@pytest.mark.parametrize('group_size', [2, 3])
def test_groups_share_a_class_and_never_repeat(group_size):
    labels = random_labels(60)
    dataset = FakeLabelDataset(labels)
    sampler = CommonClassPairSampler(dataset, group_size=group_size, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        stream = list(sampler)
        assert len(stream) == len(sampler) > 0
        assert len(set(stream)) == len(stream)
        assert_groups_share(groups_of(stream, group_size), labels)
    # most images are used: only the greedy leftovers are dropped
    assert len(stream) >= 40


def test_greedy_order_hand_worked():
    # queue 0..5; 0 skips 1, 2 and takes 3; the skipped 1 starts the next
    # group and takes 2; 4 ({4}) and 5 find no partner and are dropped
    labels = [[1], [2], [2, 3], [1, 3], [4], [3]]
    sets = [frozenset(c) for c in labels]
    assert common_class_groups(range(6), sets, 2) == [[0, 3], [1, 2]]
    sampler = CommonClassPairSampler(
        FakeLabelDataset(labels), shuffle=False, seed=0)
    assert list(sampler) == [0, 3, 1, 2] and len(sampler) == 4
    # groups of three: 2 takes 4 but no third member shares with both, so 2
    # is dropped and 4 goes back to its place, where it starts [4, 5, 6]
    labels = [[1, 2], [1], [2], [1, 2], [2, 3], [1, 3], [3]]
    sets = [frozenset(c) for c in labels]
    assert common_class_groups(range(7), sets, 3) == [[0, 1, 3], [4, 5, 6]]
    # the queue order decides: reversed, 6 pairs with 5 first
    assert common_class_groups([6, 5, 4, 3, 2, 1, 0], sets,
                               2) == [[6, 5], [4, 3], [2, 0]]


def test_images_without_a_partner_are_never_sampled():
    # image 4 has no class, image 5 a class no other image has
    labels = [[1], [1, 2], [2], [2], [], [9], [1], [1]]
    sampler = CommonClassPairSampler(FakeLabelDataset(labels), seed=0)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        stream = list(sampler)
        assert 4 not in stream and 5 not in stream
        assert_groups_share(groups_of(stream, 2), labels)


def test_same_seed_and_epoch_same_stream():
    dataset = FakeLabelDataset(random_labels(50))

    def stream(seed, epoch):
        sampler = CommonClassPairSampler(dataset, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert stream(3, 0) == stream(3, 0)
    assert stream(3, 1) == stream(3, 1)
    assert stream(3, 0) != stream(3, 1)
    assert stream(3, 0) != stream(4, 0)
    # epoch e of seed s shuffles with s + e, as mmengine's DefaultSampler
    assert stream(3, 1) == stream(4, 0)


def test_ranks_get_equal_whole_disjoint_groups(monkeypatch):
    labels = random_labels(45, seed=2)
    dataset = FakeLabelDataset(labels)
    single = CommonClassPairSampler(dataset, seed=5)
    single.set_epoch(2)
    single_groups = groups_of(list(single), 2)
    streams = []
    for rank in range(2):
        dist(monkeypatch, rank, 2)
        sampler = CommonClassPairSampler(dataset, seed=5)
        sampler.set_epoch(2)
        streams.append(list(sampler))
        assert len(sampler) == len(streams[-1])
    assert len(streams[0]) == len(streams[1]) > 0
    assert not set(streams[0]) & set(streams[1])
    rank_groups = [groups_of(s, 2) for s in streams]
    assert_groups_share(rank_groups[0] + rank_groups[1], labels)
    # the groups of a single-process run, dealt in turn; an odd last one is
    # dropped
    total = len(single_groups) // 2 * 2
    assert rank_groups[0] == single_groups[0:total:2]
    assert rank_groups[1] == single_groups[1:total:2]


def test_random_pairing_skips_the_class_check():
    # no two images share a class: every random pair violates the rule
    labels = [[c] for c in range(1, 10)]
    dataset = FakeLabelDataset(labels)
    sampler = CommonClassPairSampler(dataset, pairing='random', seed=0)
    stream = list(sampler)
    assert len(stream) == 8 and len(set(stream)) == 8
    for a, b in groups_of(stream, 2):
        assert not set(labels[a]) & set(labels[b])
    with pytest.raises(ValueError,
                       match=r'FakeLabelDataset.*no two images share'):
        CommonClassPairSampler(dataset, pairing='common', seed=0)
    # without shuffling, random pairs are consecutive indices
    sampler = CommonClassPairSampler(
        dataset, pairing='random', shuffle=False, seed=0)
    assert list(sampler) == list(range(8))


def test_errors(monkeypatch):
    dataset = FakeLabelDataset(random_labels(10))
    with pytest.raises(ValueError, match='group_size'):
        CommonClassPairSampler(dataset, group_size=1)
    with pytest.raises(ValueError, match='pairing'):
        CommonClassPairSampler(dataset, pairing='same')
    with pytest.raises(TypeError, match='list has no get_data_info'):
        CommonClassPairSampler(list(range(4)), seed=0)

    class NoLabels(FakeLabelDataset):

        def get_data_info(self, idx):
            return dict(img_id=str(idx))

    with pytest.raises(KeyError, match=r"'img_labels'.*NoLabels"):
        CommonClassPairSampler(NoLabels([[1]] * 4), seed=0)
    # two pairs cannot feed three ranks
    dist(monkeypatch, 0, 3)
    with pytest.raises(ValueError, match=r'2 groups.*3 rank'):
        CommonClassPairSampler(FakeLabelDataset([[1]] * 4), seed=0)


def test_toy_dataset_labels_without_loading_images(tmp_path):
    info = make_toy_dataset(
        str(tmp_path / 'toy'), num_train=16, num_val=0, size=32, seed=4)
    dataset = WSSSVOCDataset(
        data_root=info['data_root'],
        metainfo=dict(classes=TOY_CLASSES, palette=TOY_PALETTE))

    def no_loading(idx):
        raise AssertionError('the sampler must not load images')

    dataset.prepare_data = no_loading
    sampler = CommonClassPairSampler(dataset, seed=0)
    stream = list(sampler)
    labels = [dataset.get_data_info(i)['img_labels'] for i in range(16)]
    assert labels == [
        info['img_labels'][f'train_{i:05d}'] for i in range(16)
    ]
    assert len(stream) >= 12 and len(set(stream)) == len(stream)
    assert_groups_share(groups_of(stream, 2), labels)


def test_infinite_stream_is_deterministic_and_endless():
    labels = random_labels(30, seed=3)
    dataset = FakeLabelDataset(labels)
    sampler = InfiniteCommonClassPairSampler(dataset, seed=7)
    one_pass = len(sampler)
    head = list(itertools.islice(sampler, 10 * one_pass))
    assert len(head) == 10 * one_pass
    assert head == list(itertools.islice(iter(sampler), 10 * one_pass))
    assert head == list(
        itertools.islice(InfiniteCommonClassPairSampler(dataset, seed=7),
                         10 * one_pass))
    assert head != list(
        itertools.islice(InfiniteCommonClassPairSampler(dataset, seed=8),
                         10 * one_pass))
    assert_groups_share(groups_of(head, 2), labels)
    # pass 0 is the epoch-based sampler's epoch 0; later passes regroup
    assert head[:one_pass] == list(CommonClassPairSampler(dataset, seed=7))
    sampler.set_epoch(3)  # no effect in iteration-based loops
    assert list(itertools.islice(sampler, len(head))) == head
    # every image has class 1, so nothing is dropped: each pass is a new
    # permutation of all 30 indices
    labels = [[1] + classes for classes in labels]
    sampler = InfiniteCommonClassPairSampler(
        FakeLabelDataset(labels), seed=7)
    assert len(sampler) == 30
    head = list(itertools.islice(sampler, 4 * 30))
    passes = [head[k:k + 30] for k in range(0, len(head), 30)]
    assert all(sorted(p) == list(range(30)) for p in passes)
    assert len({tuple(p) for p in passes}) == 4


def test_infinite_resume_through_skip_sampler():
    dataset = FakeLabelDataset(random_labels(20, seed=4))
    cfg = dict(type='InfiniteCommonClassPairSampler', group_size=2)
    init_default_scope('mmseg')
    full = SkipSampler(dataset, cfg, num_skipped=0, seed=11)
    resumed = SkipSampler(dataset, cfg, num_skipped=36, seed=11)
    assert list(itertools.islice(resumed, 40)) == list(
        itertools.islice(full, 36, 76))
    # StagewiseTrainLoop accepts only endless samplers
    assert _is_infinite_sampler('InfiniteCommonClassPairSampler')
    assert _is_infinite_sampler('InfiniteSampler')
    assert _is_infinite_sampler('mmengine.InfiniteSampler')
    assert not _is_infinite_sampler('CommonClassPairSampler')
    assert not _is_infinite_sampler('DefaultSampler')


def test_dataloader_batches_of_four_hold_two_pairs():
    labels = random_labels(26, seed=6)
    dataset = FakeLabelDataset(labels)
    sampler = InfiniteCommonClassPairSampler(dataset, seed=0)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    batches = [b.tolist() for b in itertools.islice(iter(loader), 30)]
    assert len(sampler) % 4 != 0  # batches straddle pass boundaries
    assert sum(batches, []) == list(itertools.islice(sampler, 120))
    for batch in batches:
        assert len(batch) == 4
        assert_groups_share([batch[:2], batch[2:]], labels)
    # the registry path of mmengine's runner
    init_default_scope('mmseg')
    loader = Runner.build_dataloader(
        dict(
            dataset=dataset,
            batch_size=4,
            num_workers=0,
            sampler=dict(type='InfiniteCommonClassPairSampler')),
        seed=0)
    assert check_group_batch_size(loader) == 2
    assert [list(b) for b in itertools.islice(iter(loader), 30)] == batches


def test_check_group_batch_size():
    sampler = dict(type='CommonClassPairSampler', group_size=2)
    assert check_group_batch_size(dict(batch_size=8, sampler=sampler)) == 2
    with pytest.raises(ValueError, match=r'batch size \(3.*group_size \(2'):
        check_group_batch_size(dict(batch_size=3, sampler=sampler))
    wrapped = dict(type='SkipSampler', sampler=dict(
        type='InfiniteCommonClassPairSampler', group_size=3))
    assert check_group_batch_size(dict(batch_size=6, sampler=wrapped)) == 3
    with pytest.raises(ValueError, match='multiple'):
        check_group_batch_size(dict(batch_size=4, sampler=wrapped))
    with pytest.raises(TypeError, match='no CommonClassPairSampler'):
        check_group_batch_size(
            dict(batch_size=4, sampler=dict(type='InfiniteSampler')))
    dataset = FakeLabelDataset(random_labels(12))
    loader = DataLoader(
        dataset,
        batch_size=3,
        sampler=CommonClassPairSampler(dataset, seed=0))
    with pytest.raises(ValueError, match='multiple'):
        check_group_batch_size(loader)
    assert torch.is_tensor(next(iter(loader)))
