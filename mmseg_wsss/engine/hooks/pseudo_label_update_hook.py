"""Stage-wise pseudo labels that the model regenerates."""
import copy
import os.path as osp
from typing import List, Optional

from mmengine.dist import broadcast
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.registry import DATASETS, HOOKS, TASK_UTILS

from ...pseudo_labels import (StaleLabelsError, generator_identity,
                              identity_diff, label_identity, read_meta,
                              write_pseudo_labels)
from ..runner import StagewiseTrainLoop

DEFAULT_LABEL_PIPELINE = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadImageLevelLabels'),
    dict(type='PackWSSSInputs')
]


@HOOKS.register_module()
class PseudoLabelUpdateHook(Hook):
    """Label the training set at the start of every stage and train on it.

    Needs a :class:`StagewiseTrainLoop` (``train_cfg``), which calls
    :meth:`before_train_stage`. Stage 0 trains on the labels of
    ``init_generator`` (e.g. raw CAMs of the classification-pretrained
    model) or, with ``generate_at_start=False``, on the dataset's own
    ``pseudo_label_dir``; stage ``k > 0`` on the labels that ``generator``
    makes with the model after stage ``k - 1``. Labels of stage ``k`` go to
    ``out_dir/stage_k`` (:func:`write_pseudo_labels`: rank-sharded,
    atomic, resumable, with ``meta.json``); the training dataset and the
    labelling dataset then read them (``set_label_dirs``; saliency labels
    too, so a generator with ``sal_update_ref='previous'`` sees them).

    Stale labels are never trained on: a stage folder is reused only when
    its meta names the same generator, dataset and model weights; labels
    made by anything else (e.g. an earlier run in the same work dir) are
    regenerated, with a warning naming the folder and the difference. A
    run resumed inside a stage needs that stage's complete labels. At every
    stage boundary the hook saves ``iter_<boundary>.pth`` (unless a
    checkpoint hook did) before labelling, so an interrupted labelling
    resumes from it with the same model.

    Args:
        generator (dict): A ``TASK_UTILS`` generator config
            (:class:`~mmseg_wsss.pseudo_labels.BaseLabelGenerator`).
        init_generator (dict, optional): Generator of the stage-0 labels;
            defaults to ``generator``.
        generate_at_start (bool): Make stage-0 labels; otherwise stage 0
            trains on the dataset's ``pseudo_label_dir``.
        generate_after_last (bool): Also label after the last stage (for
            analysis only).
        label_pipeline (list[dict]): Pipeline of the labelling dataset (a
            copy of the training dataset config): full images, no
            augmentation, image labels packed.
        out_dir (str, optional): Defaults to
            ``<work_dir>/pseudo_labels/<name>``.
        name (str): Name of the label set.
    """

    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self,
                 generator: dict,
                 init_generator: Optional[dict] = None,
                 generate_at_start: bool = True,
                 generate_after_last: bool = False,
                 label_pipeline: List[dict] = DEFAULT_LABEL_PIPELINE,
                 out_dir: Optional[str] = None,
                 name: str = 'stagewise'):
        self.generator_cfgs = [init_generator or generator, generator]
        self.generators = [TASK_UTILS.build(c) for c in self.generator_cfgs]
        self.generate_at_start = generate_at_start
        self.generate_after_last = generate_after_last
        self.label_pipeline = label_pipeline
        self.out_dir = out_dir
        self.name = name
        self.label_dataset = None

    def stage_dir(self, stage: int) -> str:
        """Folder of the labels of a stage."""
        return osp.join(self.out_dir, f'stage_{stage}')

    def before_train(self, runner) -> None:
        """Check the loop; build the labelling dataset."""
        if not isinstance(runner.train_loop, StagewiseTrainLoop):
            raise TypeError(
                'PseudoLabelUpdateHook needs train_cfg=dict(type='
                f"'StagewiseTrainLoop', ...), got "
                f'{type(runner.train_loop).__name__}')
        if not hasattr(runner.train_dataloader.dataset, 'set_label_dirs'):
            raise TypeError(
                'PseudoLabelUpdateHook switches the labels of the training '
                'dataset with set_label_dirs: use a WSSSVOCDataset (or '
                'WSSSCOCODataset) directly as train_dataloader.dataset, got '
                f'{type(runner.train_dataloader.dataset).__name__}')
        if self.out_dir is None:
            self.out_dir = osp.join(runner.work_dir, 'pseudo_labels',
                                    self.name)
        dataset_cfg = copy.deepcopy(runner.cfg.train_dataloader.dataset)
        dataset_cfg.update(pipeline=self.label_pipeline, pseudo_label_dir=None)
        self.label_dataset = DATASETS.build(dataset_cfg)

    def before_train_stage(self, runner, stage: int) -> None:
        """Make (or reuse) the stage's labels and train on them."""
        if stage == 0 and not self.generate_at_start:
            return
        loop = runner.train_loop
        if runner.iter == loop.stage_start(stage):
            if stage > 0:
                self._save_boundary_checkpoint(runner)
                # the previous stage's saliency labels, also after a resume
                # (a generator with sal_update_ref='previous' reads them)
                self._switch_dataset(self.label_dataset, stage - 1)
            self._generate(runner, stage)
        else:
            self._check_resumed_labels(stage, loop.stage_start(stage),
                                       runner.iter)
        self._switch(runner, stage)

    def _check_resumed_labels(self, stage: int, start: int,
                              iteration: int) -> None:
        """A run resumed inside a stage needs its complete labels, made by
        this generator."""
        meta = read_meta(self.stage_dir(stage)) or {}
        if not meta.get('complete'):
            raise FileNotFoundError(
                f'the labels of stage {stage} in {self.stage_dir(stage)} are '
                'incomplete (no complete meta.json), but the run resumed at '
                f'iteration {iteration}, inside the stage; resume from the '
                f'checkpoint of iteration {start}')
        diff = identity_diff(
            meta.get('identity', {}).get('generator', {}),
            generator_identity(self.generator_cfgs[min(stage, 1)]))
        if diff:
            raise StaleLabelsError(
                f'the labels of stage {stage} in {self.stage_dir(stage)} '
                f"were made by another generator ({'; '.join(diff)}); "
                f'resume from the checkpoint of iteration {start}')

    def after_train(self, runner) -> None:
        """Label once more with the final model, if asked."""
        if self.generate_after_last and \
                runner.iter == runner.train_loop.max_iters:
            self._generate(runner, runner.train_loop.num_stages)

    def _generate(self, runner, stage: int) -> None:
        """Label every training image with the current model."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        # one model labels all shards: buffers (BN statistics) drift apart
        # between ranks when DDP does not broadcast them
        for buffer in model.buffers():
            broadcast(buffer, src=0)
        generator_cfg = self.generator_cfgs[min(stage, 1)]
        print_log(
            f'PseudoLabelUpdateHook: labels of stage {stage} (model after '
            f'{runner.iter} iterations) -> {self.stage_dir(stage)}',
            logger='current')
        write_pseudo_labels(
            model,
            self.label_dataset,
            self.generators[min(stage, 1)],
            self.stage_dir(stage),
            identity=label_identity(model, self.label_dataset, generator_cfg),
            info=dict(
                stage=stage, iteration=runner.iter,
                work_dir=runner.work_dir),
            on_mismatch='overwrite')

    def _switch(self, runner, stage: int) -> None:
        """Point the training and labelling datasets at a stage's labels."""
        for dataset in (runner.train_dataloader.dataset, self.label_dataset):
            self._switch_dataset(dataset, stage)

    def _switch_dataset(self, dataset, stage: int) -> None:
        """Point a dataset at a stage's labels (and saliency labels)."""
        label_dir = self.stage_dir(stage)
        if not osp.isdir(label_dir):  # stage 0 from the dataset's own labels
            return
        sal_dir = osp.join(label_dir, 'saliency')
        dataset.set_label_dirs(label_dir,
                               sal_dir if osp.isdir(sal_dir) else None)

    @staticmethod
    def _save_boundary_checkpoint(runner) -> None:
        """Save the model of the stage boundary unless a hook did."""
        filename = f'iter_{runner.iter}.pth'
        if not osp.exists(osp.join(runner.work_dir, filename)):
            runner.save_checkpoint(
                runner.work_dir,
                filename,
                meta=dict(iter=runner.iter),
                by_epoch=False)
