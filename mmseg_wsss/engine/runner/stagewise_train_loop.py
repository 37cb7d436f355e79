"""Iteration-based training cut into stages (AuxSegNet's label updates,
CIAN's retraining round)."""
import copy
import itertools
from math import inf
from typing import Dict, Iterator, List, Optional, Tuple, Union

from mmengine.dataset import InfiniteSampler
from mmengine.hooks import EarlyStoppingHook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop, IterBasedTrainLoop
from mmengine.runner.utils import calc_dynamic_intervals
from mmseg.registry import DATA_SAMPLERS, LOOPS
from torch.utils.data import DataLoader, Sampler


@DATA_SAMPLERS.register_module()
class SkipSampler(Sampler):
    """A sampler without its first ``num_skipped`` indices.

    Resuming inside a stage skips the indices the stage has used, so no
    image of them is loaded.

    Args:
        dataset (Dataset): The sampled dataset.
        sampler (dict): The wrapped sampler's config.
        num_skipped (int): Indices to drop.
        seed (int, optional): Seed of the wrapped sampler.
    """

    def __init__(self,
                 dataset,
                 sampler: dict,
                 num_skipped: int = 0,
                 seed: Optional[int] = None):
        self.sampler = DATA_SAMPLERS.build(
            sampler, default_args=dict(dataset=dataset, seed=seed))
        self.num_skipped = num_skipped

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.num_skipped, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.num_skipped, 0)


@LOOPS.register_module()
class StagewiseTrainLoop(IterBasedTrainLoop):
    """``num_stages`` stages of ``stage_iters`` iterations.

    At the start of every stage (and of a run resumed inside one) the loop
    calls the hooks' ``before_train_stage(runner, stage)`` (e.g.
    :class:`PseudoLabelUpdateHook` labels the data of the stage there), then
    draws the stage's data from a new dataloader whose sampler is seeded
    with ``runner.seed + stage``. A run resumed inside a stage skips the
    stage's used sampler indices, so it sees the data order of an
    uninterrupted run without loading the skipped batches.

    A stop request (``stop_training``, e.g. set by mmengine's
    ``EarlyStoppingHook``) ends the current stage early: the parameter
    schedulers step over the skipped iterations (so a per-stage restart
    such as ``StagewisePolyLR`` starts the next stage at its base value)
    and the run goes on at the next stage; in the last stage it ends the
    run. Early-stopping hooks count afresh in every stage (their state is
    not saved in checkpoints: a resumed stage counts from the resume).

    Args:
        runner (Runner): The runner.
        dataloader (dict): The training dataloader config; its sampler must
            be endless (mmengine's ``InfiniteSampler``, a subclass, or a
            sampler class with ``infinite = True`` such as
            ``InfiniteCommonClassPairSampler``) and ``persistent_workers``
            False (the workers must see the dataset's new labels).
        stage_iters (int): Iterations per stage.
        num_stages (int): Number of stages.
        val_begin (int): First iteration that validates.
        val_interval (int, optional): Validation interval; defaults to
            ``stage_iters`` (validate after every stage).
        dynamic_intervals (list[tuple[int, int]], optional): As mmengine's
            ``IterBasedTrainLoop``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 stage_iters: int,
                 num_stages: int,
                 val_begin: int = 1,
                 val_interval: Optional[int] = None,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None):
        if stage_iters <= 0 or num_stages <= 0:
            raise ValueError('StagewiseTrainLoop: stage_iters and num_stages '
                             f'must be positive, got {stage_iters} and '
                             f'{num_stages}')
        if not isinstance(dataloader, dict):
            raise TypeError('StagewiseTrainLoop rebuilds the dataloader of '
                            'every stage: pass train_dataloader as a config')
        sampler = dataloader.get('sampler', {}).get('type')
        if not _is_infinite_sampler(sampler):
            raise ValueError(
                'StagewiseTrainLoop: set train_dataloader.sampler to an '
                "endless sampler, dict(type='InfiniteSampler', ...) (or "
                f"'InfiniteCommonClassPairSampler'), got {sampler!r}")
        if dataloader.get('persistent_workers', False):
            raise ValueError(
                'StagewiseTrainLoop: set train_dataloader.persistent_workers'
                '=False, or the workers keep the data of the first stage')
        self.dataloader_cfg = copy.deepcopy(dataloader)
        self.stage_iters = stage_iters
        self.num_stages = num_stages
        # IterBasedTrainLoop.__init__ would start iterating a dataloader that
        # no stage uses (and load batches to throw away): set up its state
        # here, each stage starts its own dataloader
        BaseLoop.__init__(self, runner, dataloader)
        self._max_iters = stage_iters * num_stages
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval or stage_iters
        self.stop_training = False
        self.runner.visualizer.dataset_meta = self.dataloader.dataset.metainfo
        self.dataloader_iterator = None
        self.dynamic_milestones, self.dynamic_intervals = \
            calc_dynamic_intervals(self.val_interval, dynamic_intervals)

    @property
    def stage(self) -> int:
        """The stage of the current iteration."""
        return min(self._iter // self.stage_iters, self.num_stages - 1)

    def stage_start(self, stage: int) -> int:
        """The first iteration of a stage."""
        return stage * self.stage_iters

    def run(self):
        """Train every stage; see the class docstring."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        stage = None
        while self._iter < self._max_iters:
            if self.stage != stage:
                stage = self.stage
                self._begin_stage(stage)
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
            if self.stop_training:
                if stage == self.num_stages - 1:
                    break
                self._end_stage_early(stage)
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _begin_stage(self, stage: int) -> None:
        """Prepare the stage's data (hooks), then its dataloader."""
        print_log(
            f'stage {stage} of {self.num_stages} begins at iteration '
            f'{self._iter}',
            logger='current')
        self.runner.call_hook('before_train_stage', stage=stage)
        for hook in self.runner.hooks:  # patience counts within a stage
            if isinstance(hook, EarlyStoppingHook):
                hook.wait_count = 0
                hook.best_score = -inf if hook.rule == 'greater' else inf
        self.dataloader = self._stage_dataloader(
            stage, self._iter - self.stage_start(stage))
        self.dataloader_iterator = iter(self.dataloader)

    def _stage_dataloader(self, stage: int, skipped_iters: int) -> DataLoader:
        """The stage's dataloader over the (relabelled) training dataset,
        without its first ``skipped_iters`` batches."""
        cfg = dict(self.dataloader_cfg)
        seed = self.runner.seed + stage
        diff_rank_seed = self.runner.cfg.get('randomness', {}).get(
            'diff_rank_seed', False)
        cfg['dataset'] = self.dataloader.dataset
        cfg['sampler'] = dict(
            type='SkipSampler',
            sampler=cfg['sampler'],
            num_skipped=skipped_iters * cfg['batch_size'])
        return self.runner.build_dataloader(
            cfg, seed=seed, diff_rank_seed=diff_rank_seed)

    def _end_stage_early(self, stage: int) -> None:
        """Jump to the first iteration of the next stage."""
        end = self.stage_start(stage + 1)
        print_log(
            f'stage {stage} stopped early at iteration {self._iter} '
            f'(planned end: {end})',
            logger='current')
        for scheduler in _iter_based_schedulers(self.runner.param_schedulers):
            for _ in range(end - self._iter):
                scheduler.step()
        self._iter = end
        self.stop_training = False


def _is_infinite_sampler(sampler_type) -> bool:
    """Whether a sampler type (a registered name or a class) never ends."""
    if isinstance(sampler_type, str):
        sampler_type = DATA_SAMPLERS.get(sampler_type)
    return isinstance(sampler_type, type) and (
        issubclass(sampler_type, InfiniteSampler)
        or getattr(sampler_type, 'infinite', False) is True)


def _iter_based_schedulers(schedulers) -> list:
    """The iteration-based schedulers of a list or a dict of lists."""
    if isinstance(schedulers, dict):
        return [s for value in schedulers.values()
                for s in _iter_based_schedulers(value)]
    return [s for s in schedulers or [] if not s.by_epoch]
