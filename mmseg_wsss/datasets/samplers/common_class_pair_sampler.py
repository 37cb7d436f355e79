"""Samplers that yield groups of images sharing an image-level class
(CIAN's cross-image pairs, ``cian.md`` section 5).

The index stream is *group-contiguous*: indices ``0..G-1`` form the first
group, ``G..2G-1`` the next one, and so on, so a batch whose size is a
multiple of ``group_size`` holds whole groups (the sampler cannot see the
batch size; :func:`check_group_batch_size` checks a dataloader).
"""
import bisect
import logging
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Sized

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import print_log
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import DataLoader, Sampler

IMG_LABELS_KEY = 'img_labels'
PAIRINGS = ('common', 'random')


def read_img_labels(dataset: Sized) -> List[FrozenSet[int]]:
    """The foreground classes of every image, without loading any image.

    Args:
        dataset (Sized): A dataset whose ``get_data_info(i)`` holds
            ``'img_labels'`` (a list of foreground class ids), as
            ``WSSSVOCDataset`` and ``WSSSCOCODataset`` do.

    Returns:
        list[frozenset[int]]: The classes of image ``i`` at position ``i``.
    """
    name = type(dataset).__name__
    if not callable(getattr(dataset, 'get_data_info', None)):
        raise TypeError(
            f'CommonClassPairSampler reads image labels through '
            f"dataset.get_data_info(i)['{IMG_LABELS_KEY}'], but {name} has "
            'no get_data_info method')
    labels = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if IMG_LABELS_KEY not in info:
            raise KeyError(
                f"CommonClassPairSampler needs the '{IMG_LABELS_KEY}' key "
                f'(foreground class ids) in the data infos of {name}; the '
                f'data info of index {i} has only {sorted(info)}. Use a '
                'dataset with image-level labels (e.g. WSSSVOCDataset)')
        classes = info[IMG_LABELS_KEY]
        try:
            classes = frozenset(int(c) for c in classes)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}: '{IMG_LABELS_KEY}' of index {i} must be a list of "
                f'class ids, got {classes!r}') from None
        labels.append(classes)
    return labels


def common_class_groups(order: Sequence[int],
                        labels: Sequence[FrozenSet[int]],
                        group_size: int = 2) -> List[List[int]]:
    """Greedy groups whose members share a class (``cian.md`` section 5).

    Walks ``order`` as a queue: its next index starts a group, then the
    first later index sharing at least one class with *every* member joins
    it, until the group has ``group_size`` members. Skipped indices keep
    their place at the front of the queue. A first member that cannot
    complete its group is dropped (its partial members go back to their
    places), as are images without any class: both are the leftovers.

    Args:
        order (Sequence[int]): Dataset indices in queue order.
        labels (Sequence[frozenset[int]]): The classes of every dataset
            index.
        group_size (int): Members per group.

    Returns:
        list[list[int]]: The groups in the order they were formed, each in
        the order its members joined.
    """
    order = [i for i in order if labels[i]]
    classes = [labels[i] for i in order]
    # positions (in ``order``) of each class; entries before free[c] are used
    by_class: Dict[int, List[int]] = {}
    for pos, pos_classes in enumerate(classes):
        for c in pos_classes:
            by_class.setdefault(c, []).append(pos)
    free = dict.fromkeys(by_class, 0)
    used = bytearray(len(order))

    def next_free(c: int, after: int) -> Optional[int]:
        """The first unused position after ``after`` holding class c."""
        positions = by_class[c]
        k = free[c]
        while k < len(positions) and used[positions[k]]:
            k += 1
        free[c] = k
        if k < len(positions) and positions[k] <= after:
            k = bisect.bisect_right(positions, after, k)
            while k < len(positions) and used[positions[k]]:
                k += 1
        return positions[k] if k < len(positions) else None

    groups = []
    head = 0
    while True:
        while head < len(order) and used[head]:
            head += 1
        if head == len(order):
            return groups
        used[head] = 1
        members = [head]
        while len(members) < group_size:
            # candidates share a class with the first member; earlier unused
            # positions failed a member that is still in the group
            after, found = members[-1], None
            while found is None:
                candidates = [
                    p for p in (next_free(c, after) for c in classes[head])
                    if p is not None
                ]
                if not candidates:
                    break
                after = min(candidates)
                if all(classes[after] & classes[m] for m in members[1:]):
                    found = after
            if found is None:
                break
            used[found] = 1
            members.append(found)
        if len(members) == group_size:
            groups.append([order[p] for p in members])
            continue
        for p in members[1:]:  # back to their places; the head is dropped
            used[p] = 0
            for c in classes[p]:
                free[c] = min(free[c], bisect.bisect_left(by_class[c], p))


def random_groups(order: Sequence[int],
                  group_size: int = 2) -> List[List[int]]:
    """Consecutive indices of ``order`` as groups, without a class check
    (the paper's random pairing); the incomplete last group is dropped."""
    return [
        list(order[k:k + group_size])
        for k in range(0, len(order) - group_size + 1, group_size)
    ]


@DATA_SAMPLERS.register_module()
class CommonClassPairSampler(Sampler):
    """Groups of images that share an image-level class, for epoch-based
    training (CIAN, ``cian.md`` section 5).

    Every epoch (``set_epoch``) the dataset indices are shuffled with
    ``seed + epoch`` and cut into groups of ``group_size`` by
    :func:`common_class_groups` (``pairing='common'``) or
    :func:`random_groups` (``pairing='random'``); the groups are shuffled
    and dealt to the ranks whole, the same number to each (the remainder
    is dropped, unlike ``DefaultSampler(round_up=True)``: padding would
    repeat images within the epoch). Each rank yields its groups'
    indices, group-contiguous: a batch whose size is a multiple of
    ``group_size`` holds whole groups (check with
    :func:`check_group_batch_size`; with ``drop_last=False`` the short last
    batch holds whole groups too). Every rank forms the same groups from
    the shared seed, so they match a single-process run's.

    Under ``'common'`` an image without a class, or whose classes no other
    image has, can never be grouped and is left out of every epoch (a
    warning counts them); other leftovers of the greedy rule change from
    epoch to epoch, so ``len`` (indices of this rank in the current epoch)
    may differ by a few groups between epochs.

    For iteration-based loops use :class:`InfiniteCommonClassPairSampler`.

    Args:
        dataset (Sized): The dataset; ``get_data_info(i)['img_labels']``
            gives image ``i``'s foreground class ids (read once, no image
            is loaded).
        group_size (int): Images per group (2 = pairs). Defaults to 2.
        shuffle (bool): Shuffle the indices and the groups. If False, groups
            are formed over the dataset order. Defaults to True.
        seed (int, optional): Random seed, the same on every rank. None
            draws one and shares it (``sync_random_seed``). Defaults to None.
        pairing (str): ``'common'`` (members share a class) or ``'random'``
            (consecutive shuffled indices). Defaults to ``'common'``.
    """
    infinite = False  # StagewiseTrainLoop needs a sampler that never ends

    def __init__(self,
                 dataset: Sized,
                 group_size: int = 2,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 pairing: str = 'common') -> None:
        if (not isinstance(group_size, int) or isinstance(group_size, bool)
                or group_size < 2):
            raise ValueError(f'{type(self).__name__}: group_size must be an '
                             f'int >= 2, got {group_size!r}')
        if pairing not in PAIRINGS:
            raise ValueError(f'{type(self).__name__}: pairing must be one of '
                             f'{PAIRINGS}, got {pairing!r}')
        rank, world_size = get_dist_info()
        self.rank = rank
        self.world_size = world_size
        self.dataset = dataset
        self.group_size = group_size
        self.shuffle = shuffle
        if seed is None:
            seed = sync_random_seed()
        self.seed = seed
        self.pairing = pairing
        self.epoch = 0
        self.img_labels = read_img_labels(dataset)
        if pairing == 'common':
            self._warn_ungroupable()
        self._cache: tuple = (None, [])  # (epoch, indices of this rank)
        self._epoch_indices(0)  # the errors of a dataset that cannot group

    def _warn_ungroupable(self) -> None:
        """Count the images no other image shares a class with."""
        counts: Dict[int, int] = {}
        for classes in self.img_labels:
            for c in classes:
                counts[c] = counts.get(c, 0) + 1
        alone = [
            i for i, classes in enumerate(self.img_labels)
            if all(counts[c] < 2 for c in classes)
        ]
        if alone:
            print_log(
                f'{type(self).__name__}: {len(alone)} of '
                f'{len(self.img_labels)} images of '
                f'{type(self.dataset).__name__} have no class or no class '
                'another image has, and are never sampled (e.g. indices '
                f'{alone[:5]})',
                logger='current',
                level=logging.WARNING)

    def _groups(self, generator: Optional[torch.Generator]) -> List[List[int]]:
        """One pass of groups, shuffled with ``generator`` if given."""
        size = len(self.img_labels)
        if generator is None:
            order = list(range(size))
        else:
            order = torch.randperm(size, generator=generator).tolist()
        if self.pairing == 'common':
            groups = common_class_groups(order, self.img_labels,
                                         self.group_size)
        else:
            groups = random_groups(order, self.group_size)
        if generator is not None:
            perm = torch.randperm(len(groups), generator=generator).tolist()
            groups = [groups[k] for k in perm]
        return groups

    def _rank_indices(self, groups: List[List[int]]) -> List[int]:
        """This rank's whole groups, flattened; an equal count per rank."""
        if len(groups) < self.world_size:
            reason = ''
            if not groups and self.pairing == 'common':
                reason = ('; no two images share a class'
                          if self.group_size == 2 else
                          f'; no {self.group_size} images sharing classes '
                          'pairwise were found')
            raise ValueError(
                f'{type(self).__name__}: {type(self.dataset).__name__} '
                f'({len(self.img_labels)} images) gives {len(groups)} groups '
                f'of {self.group_size} with pairing={self.pairing!r}, fewer '
                f'than the {self.world_size} rank(s){reason}')
        total = len(groups) // self.world_size * self.world_size
        return [
            i for group in groups[self.rank:total:self.world_size]
            for i in group
        ]

    def _epoch_indices(self, epoch: int) -> List[int]:
        """This rank's indices in ``epoch``."""
        if self._cache[0] == epoch:
            return self._cache[1]
        generator = None
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + epoch)
        indices = self._rank_indices(self._groups(generator))
        self._cache = (epoch, indices)
        return indices

    def __iter__(self) -> Iterator[int]:
        """Iterate this rank's indices of the current epoch."""
        return iter(self._epoch_indices(self.epoch))

    def __len__(self) -> int:
        """The number of indices of this rank in the current epoch."""
        return len(self._epoch_indices(self.epoch))

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch: its groups are formed from ``seed + epoch``.

        Args:
            epoch (int): Epoch number.
        """
        self.epoch = epoch


@DATA_SAMPLERS.register_module()
class InfiniteCommonClassPairSampler(CommonClassPairSampler):
    """:class:`CommonClassPairSampler` for iteration-based loops: an endless
    stream of passes over the dataset.

    Like mmengine's ``InfiniteSampler``, one generator seeded with ``seed``
    shuffles pass after pass, and every pass forms new groups (pass 0 is
    :class:`CommonClassPairSampler`'s epoch 0). The stream depends only on
    the seed, the dataset labels and the rank, so a run resumed inside a
    stage of ``StagewiseTrainLoop`` (``SkipSampler`` skips the used
    indices) continues the uninterrupted order. Each pass yields whole
    groups, so batches whose size is a multiple of ``group_size`` hold
    whole groups across pass boundaries too. ``set_epoch`` does nothing,
    and ``len`` is the length of one pass (pass 0).

    Args:
        dataset (Sized): As :class:`CommonClassPairSampler`.
        group_size (int): As :class:`CommonClassPairSampler`.
        shuffle (bool): As :class:`CommonClassPairSampler`; if False every
            pass is the same.
        seed (int, optional): As :class:`CommonClassPairSampler`.
        pairing (str): As :class:`CommonClassPairSampler`.
    """
    infinite = True

    def __iter__(self) -> Iterator[int]:
        """Yield this rank's indices, pass after pass."""
        generator = None
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed)
        while True:
            yield from self._rank_indices(self._groups(generator))

    def __len__(self) -> int:
        """The number of indices of this rank in one pass (pass 0)."""
        return len(self._epoch_indices(0))

    def set_epoch(self, epoch: int) -> None:
        """Not used in iteration-based loops."""


def check_group_batch_size(dataloader) -> int:
    """Check that a dataloader's batches hold whole groups.

    Args:
        dataloader (dict | DataLoader): A dataloader or its config whose
            sampler is (or wraps, e.g. ``SkipSampler``) a
            :class:`CommonClassPairSampler`.

    Returns:
        int: The sampler's ``group_size``.
    """
    if isinstance(dataloader, DataLoader):
        batch_size, sampler = dataloader.batch_size, dataloader.sampler
        while (not isinstance(sampler, CommonClassPairSampler)
               and isinstance(getattr(sampler, 'sampler', None), Sampler)):
            sampler = sampler.sampler
        group_size = getattr(sampler, 'group_size', None)
        is_group = isinstance(sampler, CommonClassPairSampler)
    elif isinstance(dataloader, dict):
        batch_size, sampler = dataloader.get('batch_size'), dataloader.get(
            'sampler')
        while (isinstance(sampler, dict) and not _is_group_sampler_cfg(sampler)
               and isinstance(sampler.get('sampler'), dict)):
            sampler = sampler['sampler']
        is_group = isinstance(sampler, dict) and _is_group_sampler_cfg(sampler)
        group_size = sampler.get('group_size', 2) if is_group else None
    else:
        raise TypeError('check_group_batch_size: expected a DataLoader or a '
                        f'dataloader config, got {type(dataloader).__name__}')
    if not is_group:
        raise TypeError('check_group_batch_size: the dataloader has no '
                        'CommonClassPairSampler (or a sampler wrapping one), '
                        f'its sampler is {sampler!r}')
    if not isinstance(batch_size, int) or batch_size % group_size:
        raise ValueError(
            f'the batch size ({batch_size!r} per GPU) must be a multiple of '
            f'the sampler group_size ({group_size}) for batches to hold '
            'whole groups')
    return group_size


def _is_group_sampler_cfg(cfg: dict) -> bool:
    """Whether a sampler config builds a :class:`CommonClassPairSampler`."""
    sampler_type = cfg.get('type')
    if isinstance(sampler_type, str):
        sampler_type = DATA_SAMPLERS.get(sampler_type)
    return isinstance(sampler_type, type) and issubclass(
        sampler_type, CommonClassPairSampler)
