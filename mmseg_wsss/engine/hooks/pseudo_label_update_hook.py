import copy
import os.path as osp
from typing import List, Optional

from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.runner.loops import _InfiniteDataloaderIterator
from mmseg.registry import DATASETS, HOOKS, TASK_UTILS

from ..pseudo_labels import write_pseudo_labels

DEFAULT_LABEL_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadImageLevelLabels'),
    dict(type='PackWSSSInputs')
]


@HOOKS.register_module()
class PseudoLabelUpdateHook(Hook):
    """Stage-wise training on pseudo labels that the model regenerates.

    Training is cut into ``num_stages`` stages of ``stage_iters`` iterations.
    Before stage 0 the labels of stage 0 are made by ``init_generator``
    (e.g. raw CAMs of the classification-pretrained model); at the end of
    stage ``k`` the current model makes the labels of stage ``k + 1`` with
    ``generator``. Labels of stage ``k`` go to ``out_dir/stage_k/<id>.png``
    (saliency labels, if the generator makes them, to
    ``out_dir/stage_k/saliency/``), are written rank-sharded and atomically
    by :func:`write_pseudo_labels`, and ``meta.json`` marks a complete
    stage. The training dataset is then switched with its ``set_label_dirs``
    and the train loop gets a new dataloader over it (new workers, sampler
    seeded with ``seed + stage``).

    Resuming: a run resumed inside stage ``k`` reads the (complete) labels of
    stage ``k``; a run resumed exactly at a stage boundary (from the
    checkpoint saved there before generation started) completes the missing
    labels with the same model. Keep a ``CheckpointHook`` whose interval
    divides ``stage_iters``; this hook runs after it.

    Early stopping (``early_stop_patience``, off by default): a stage ends
    once ``early_stop_metric`` of the validation loop has not improved for
    that many validations in a row; the run jumps to the next stage boundary
    (the parameter schedulers skip the same number of steps, so a per-stage
    restart such as ``StagewisePolyLR`` starts the next stage from its base
    value), saves the boundary checkpoint and labels as at a regular
    boundary. The best score and the count are kept in the message hub, so
    a resumed run keeps them.

    Args:
        generator (dict): A TASK_UTILS generator config,
            ``generator(model, inputs, data_sample, data_info) -> dict``.
        stage_iters (int): Iterations per stage.
        num_stages (int): Number of stages.
        init_generator (dict, optional): Generator of the stage-0 labels;
            defaults to ``generator``.
        generate_at_start (bool): Make stage-0 labels before training;
            otherwise the dataset's own ``pseudo_label_dir`` is used.
        generate_after_last (bool): Also label after the last stage (for
            analysis only).
        label_pipeline (list[dict]): Pipeline of the labelling dataset (a
            copy of the training dataset config): full images, no
            augmentation, image labels packed.
        out_dir (str, optional): Defaults to
            ``<work_dir>/pseudo_labels/<name>``.
        name (str): Name of the label set.
        early_stop_patience (int, optional): Validations without improvement
            that end a stage early. None disables early stopping.
        early_stop_metric (str): Validation metric to watch (higher is
            better).
    """

    priority = 'LOWEST'  # after CheckpointHook: the boundary is saved first

    def __init__(self,
                 generator: dict,
                 stage_iters: int,
                 num_stages: int,
                 init_generator: Optional[dict] = None,
                 generate_at_start: bool = True,
                 generate_after_last: bool = False,
                 label_pipeline: List[dict] = DEFAULT_LABEL_PIPELINE,
                 out_dir: Optional[str] = None,
                 name: str = 'stagewise',
                 early_stop_patience: Optional[int] = None,
                 early_stop_metric: str = 'mIoU'):
        if stage_iters <= 0 or num_stages <= 0:
            raise ValueError('stage_iters and num_stages must be positive, '
                             f'got {stage_iters} and {num_stages}')
        if early_stop_patience is not None and early_stop_patience <= 0:
            raise ValueError('early_stop_patience must be positive or None, '
                             f'got {early_stop_patience}')
        self.generator_cfg = generator
        self.init_generator_cfg = init_generator or generator
        self.generator = TASK_UTILS.build(generator)
        self.init_generator = TASK_UTILS.build(self.init_generator_cfg)
        self.stage_iters = stage_iters
        self.num_stages = num_stages
        self.generate_at_start = generate_at_start
        self.generate_after_last = generate_after_last
        self.label_pipeline = label_pipeline
        self.out_dir = out_dir
        self.name = name
        self.early_stop_patience = early_stop_patience
        self.early_stop_metric = early_stop_metric
        self.label_dataset = None

    def stage_dir(self, stage: int) -> str:
        """Folder of the segmentation labels of a stage."""
        return osp.join(self.out_dir, f'stage_{stage}')

    def before_train(self, runner) -> None:
        """Make or load the labels of the stage the run starts in."""
        if runner.cfg.train_dataloader.get('persistent_workers', False):
            raise ValueError(
                'PseudoLabelUpdateHook: set train_dataloader.'
                'persistent_workers=False, or the workers keep reading the '
                'labels of the first stage')
        self._check_checkpoint_interval(runner)
        if self.out_dir is None:
            self.out_dir = osp.join(runner.work_dir, 'pseudo_labels',
                                    self.name)
        dataset_cfg = copy.deepcopy(runner.cfg.train_dataloader.dataset)
        dataset_cfg.update(pipeline=self.label_pipeline, pseudo_label_dir=None)
        self.label_dataset = DATASETS.build(dataset_cfg)
        stage = min(runner.iter // self.stage_iters, self.num_stages - 1)
        if stage == 0 and not self.generate_at_start:
            return
        if not self._complete(stage):
            if runner.iter != stage * self.stage_iters:
                raise FileNotFoundError(
                    f'the labels of stage {stage} in {self.stage_dir(stage)} '
                    f'are incomplete (no meta.json), but the run resumed at '
                    f'iteration {runner.iter}, inside the stage; resume from '
                    f'the checkpoint of iteration '
                    f'{stage * self.stage_iters}')
            self._generate(runner, stage, runner.iter)
        self._switch(runner, stage)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """At the end of a stage, label with the model and switch."""
        if (runner.iter + 1) % self.stage_iters:
            return
        stage = (runner.iter + 1) // self.stage_iters
        if stage < self.num_stages or (stage == self.num_stages
                                       and self.generate_after_last):
            self._generate(runner, stage, runner.iter + 1)
        if stage < self.num_stages:
            self._switch(runner, stage)

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """End the stage early when the metric stopped improving."""
        if self.early_stop_patience is None or self.label_dataset is None or \
                runner.iter >= self.num_stages * self.stage_iters:
            return
        if self.early_stop_metric not in (metrics or {}):
            raise KeyError(
                f'PseudoLabelUpdateHook: early_stop_metric '
                f'{self.early_stop_metric!r} is not among the validation '
                f'metrics {sorted(metrics or {})}')
        score = float(metrics[self.early_stop_metric])
        key = f'{self.name}_early_stop'
        state = runner.message_hub.get_info(key) or dict(best=None, bad=0)
        if state['best'] is None or score > state['best']:
            state = dict(best=score, bad=0)
        else:
            state = dict(best=state['best'], bad=state['bad'] + 1)
        runner.message_hub.update_info(key, state)
        if state['bad'] >= self.early_stop_patience:
            self._end_stage(runner, state['best'])

    def _end_stage(self, runner, best: float) -> None:
        """Jump to the next stage boundary and cross it."""
        end = (runner.iter // self.stage_iters + 1) * self.stage_iters
        print_log(
            f'PseudoLabelUpdateHook: {self.early_stop_metric} has not '
            f'improved on {best:.4f} for {self.early_stop_patience} '
            f'validations; the stage ends at iteration {runner.iter} '
            f'instead of {end}',
            logger='current')
        # the skipped iterations still count for the schedules
        _skip_scheduler_steps(runner.param_schedulers, end - runner.iter)
        loop = runner.train_loop
        loop._iter = end - 1  # as in after_train_iter of iteration end - 1
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch:
                hook._save_checkpoint(runner)
        self.after_train_iter(runner, end - 1)
        loop._iter = end

    def _complete(self, stage: int) -> bool:
        return osp.exists(osp.join(self.stage_dir(stage), 'meta.json'))

    def _generate(self, runner, stage: int, iteration: int) -> None:
        """Label every training image with the model after ``iteration``
        training iterations."""
        generator = self.init_generator if stage == 0 else self.generator
        generator_cfg = self.init_generator_cfg if stage == 0 else \
            self.generator_cfg
        out_dir = self.stage_dir(stage)
        print_log(
            f'PseudoLabelUpdateHook: labels of stage {stage} '
            f'(model after {iteration} iterations) -> {out_dir}',
            logger='current')
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        write_pseudo_labels(
            model,
            self.label_dataset,
            generator,
            out_dir,
            sal_dir=osp.join(out_dir, 'saliency') if getattr(
                generator, 'update_saliency', False) else None,
            meta=dict(
                stage=stage,
                iteration=iteration,
                generator=generator_cfg,
                work_dir=runner.work_dir))

    def _switch(self, runner, stage: int) -> None:
        """Point the training dataset at a stage's labels."""
        out_dir = self.stage_dir(stage)
        sal_dir = osp.join(out_dir, 'saliency')
        dataset = runner.train_dataloader.dataset
        if not hasattr(dataset, 'set_label_dirs'):
            raise TypeError(f'{type(dataset).__name__} has no set_label_dirs;'
                            ' PseudoLabelUpdateHook needs a WSSSVOCDataset')
        dataset.set_label_dirs(out_dir,
                               sal_dir if osp.isdir(sal_dir) else None)
        runner.message_hub.update_info(f'{self.name}_early_stop',
                                       dict(best=None, bad=0))
        # new workers (they copy the dataset) and a new sampler, seeded per
        # stage; an infinite sampler cannot be iterated twice
        loader_cfg = copy.copy(runner.cfg.train_dataloader)
        loader_cfg['dataset'] = dataset
        loop = runner.train_loop
        loop.dataloader = runner.build_dataloader(
            loader_cfg,
            seed=runner.seed + stage,
            diff_rank_seed=runner._randomness_cfg.get(
                'diff_rank_seed', False))
        if hasattr(loop, 'dataloader_iterator'):
            loop.dataloader_iterator = _InfiniteDataloaderIterator(
                loop.dataloader)

    def _check_checkpoint_interval(self, runner) -> None:
        """Warn when stage boundaries are not checkpointed."""
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch and \
                    self.stage_iters % hook.interval == 0:
                return
        print_log(
            'PseudoLabelUpdateHook: no iteration CheckpointHook whose '
            f'interval divides stage_iters={self.stage_iters}; an '
            'interrupted label generation cannot be resumed with the same '
            'model',
            logger='current',
            level=30)


def _skip_scheduler_steps(schedulers, steps: int) -> None:
    """Step iteration-based schedulers ``steps`` times, as the skipped
    iterations would have."""
    if isinstance(schedulers, dict):
        for value in schedulers.values():
            _skip_scheduler_steps(value, steps)
        return
    for scheduler in schedulers or []:
        if not scheduler.by_epoch:
            for _ in range(steps):
                scheduler.step()
