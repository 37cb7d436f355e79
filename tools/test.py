# Adapted from MMSegmentation's tools (Apache-2.0, OpenMMLab).
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmseg_wsss import compat  # registers mmseg_wsss; CPU workarounds

from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS

TRAIN_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper',
              'param_scheduler')
TTA_REFUSED = (
    '--tta is not supported: test-time augmentation is configured on the '
    'segmentor, one forward per scale with the flipped images batched. Use '
    '--cfg-options model.test_cfg.scales="(0.5,1.0,1.5)" '
    'model.test_cfg.flip=True (and model.test_cfg.crf=... for a CRF)')

TEST_TIME_KEYS = ('scales', 'flip', 'merge', 'add_max', 'crf')


def check_test_time_keys(cfg: Config) -> None:
    """Refuse test-time keys in ``model.test_cfg`` that the segmentor
    ignores (one whose ``predict`` is the stock ``EncoderDecoder``'s)."""
    keys = [k for k in TEST_TIME_KEYS if k in cfg.model.get('test_cfg', {})]
    model_cls = MODELS.get(cfg.model.type)
    if keys and model_cls is not None and \
            model_cls.predict is EncoderDecoder.predict:
        raise ValueError(
            f'model.test_cfg sets {keys}, which {cfg.model.type} ignores: '
            'only segmentors with test-time options (e.g. AuxSegNet, '
            "CAMClassifier, TTAEncoderDecoder: model.type='TTAEncoderDecoder' "
            'for an EncoderDecoder) read them')


# TODO: support fuse_conv_bn, visualization, and format_only
def parse_args():
    parser = argparse.ArgumentParser(
        description='MMSeg test (and eval) a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help=('if specified, the evaluation metric results will be dumped'
              'into the directory as json'))
    parser.add_argument(
        '--out',
        type=str,
        help='The directory to save output prediction for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where the painted test images (every one) are '
        'saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='refused: there is no SegTTAModel here. Test-time scales, flip '
        'and CRF are test_cfg keys of the segmentor, e.g. --cfg-options '
        'model.test_cfg.scales="(0.5,1.0,1.5)" model.test_cfg.flip=True')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.tta:
        parser.error(TTA_REFUSED)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)

    return args


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if 'visualization' in default_hooks:
        visualization_hook = default_hooks['visualization']
        # Turn on visualization, of every test image (the hook's default
        # interval paints one in 50)
        visualization_hook['draw'] = True
        visualization_hook['interval'] = 1
        if args.show:
            visualization_hook['show'] = True
            visualization_hook['wait_time'] = args.wait_time
        if args.show_dir:
            visualizer = cfg.visualizer
            visualizer['save_dir'] = args.show_dir
    else:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks.'
            'refer to usage '
            '"visualization=dict(type=\'VisualizationHook\')"')

    return cfg


def main():
    args = parse_args()

    # load config
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    # CPU-only DDP (gloo, no device ids); a no-op with CUDA
    compat.setup_cpu_distributed(cfg, args.launcher)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_test_time_keys(cfg)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        # update configs according to CLI args if args.work_dir is not None
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        # use config filename as default work_dir if cfg.work_dir is None
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint
    # a test run has no training part: nothing of it is built (the training
    # set need not exist here, e.g. pseudo labels not yet made, yet the
    # visualization hook's runner.iter would build it)
    for key in TRAIN_KEYS:
        cfg[key] = None

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    # add output_dir in metric
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True

    # build the runner from config
    runner = Runner.from_cfg(cfg)

    # start testing
    runner.test()


if __name__ == '__main__':
    main()
