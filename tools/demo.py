"""`make demo`: the CAM baseline end to end on the procedural toy set.

Runs the same commands a user runs on SynthVOC or VOC, on a toy set that is
written in seconds, and prints each command before running it:

1. write the toy set (``tools/dataset_converters/make_toy.py``),
2. train the CAM classifier (``tools/train.py``),
3. turn its CAMs into pseudo labels and score them
   (``tools/make_pseudo_labels.py``),
4. train a LargeFOV segmenter on the pseudo labels (``tools/train.py``),
5. score it on val and write prediction overlays (``tools/test.py
   --show-dir``), and grids of image | CAM | pseudo label | ground truth
   (``tools/visualize.py``).
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import List

TOOLS = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(TOOLS)
CLS_CONFIG = 'configs/cam_baseline/cam_efficientnet-lite0_toy.py'
SEG_CONFIG = 'configs/cam_baseline/largefov_efficientnet-lite0_toy_pseudo.py'


def run(cmd: List[str], log_path: str) -> str:
    """Run a command from the repo root, teeing its output to a log."""
    print('\n$ ' + ' '.join(cmd), flush=True)
    start = time.time()
    lines = []
    with open(log_path, 'w') as log, subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True) as proc:
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if re.search(r'Iter\(|mIoU|pseudo labels|Error|error', line):
                print('  ' + line.rstrip()[-160:], flush=True)
    if proc.returncode != 0:
        sys.exit(f'command failed ({proc.returncode}); full log: {log_path}')
    print(f'  done in {time.time() - start:.0f} s', flush=True)
    return ''.join(lines)


def last_metric(output: str, name: str) -> float:
    """The last ``name: value`` (or ``name value``) a log printed."""
    values = re.findall(rf'(?<![/\w]){re.escape(name)}:? ([0-9.]+)', output)
    if not values:
        raise RuntimeError(f'no {name} in the output')
    return float(values[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/toy')
    args = parser.parse_args()
    work = args.work_dir
    os.makedirs(osp.join(ROOT, work), exist_ok=True)
    py = sys.executable
    data = [f'train_dataloader.dataset.data_root={args.data_root}',
            f'val_dataloader.dataset.data_root={args.data_root}',
            f'test_dataloader.dataset.data_root={args.data_root}']

    run([py, 'tools/dataset_converters/make_toy.py', '--out', args.data_root],
        osp.join(ROOT, work, 'make_toy.log'))

    cls_dir = osp.join(work, 'cls')
    out = run([py, 'tools/train.py', CLS_CONFIG, '--work-dir', cls_dir,
               '--cfg-options'] + data, osp.join(ROOT, work, 'train_cls.log'))
    cam_val = last_metric(out, 'cam/mIoU')
    bg_thr = last_metric(out, 'cam/best_thr')
    cls_ckpt = osp.join(cls_dir, 'iter_120.pth')

    labels = osp.join(cls_dir, 'pseudo_labels', 'cam', 'stage_0')
    out = run([py, 'tools/make_pseudo_labels.py', CLS_CONFIG, cls_ckpt,
               '--out-dir', labels, '--scales', '1.0', '0.5', '1.5',
               '--flip', '--bg-thr', str(bg_thr), '--save-cams',
               '--cfg-options'] + data,
              osp.join(ROOT, work, 'pseudo_labels.log'))
    label_miou = last_metric(out, 'mIoU')

    seg_dir = osp.join(work, 'seg')
    run([py, 'tools/train.py', SEG_CONFIG, '--work-dir', seg_dir,
         '--cfg-options', f'train_dataloader.dataset.pseudo_label_dir={labels}'
         ] + data, osp.join(ROOT, work, 'train_seg.log'))
    overlays = osp.join(work, 'overlays')
    out = run([py, 'tools/test.py', SEG_CONFIG,
               osp.join(seg_dir, 'iter_150.pth'), '--work-dir', seg_dir,
               '--show-dir', osp.abspath(osp.join(ROOT, overlays)),
               '--cfg-options', 'default_hooks.visualization.interval=5'] +
              data, osp.join(ROOT, work, 'test_seg.log'))
    seg_miou = last_metric(out, 'mIoU')

    grids = osp.join(work, 'grids')
    run([py, 'tools/visualize.py', '--data-root', args.data_root, '--split',
         'ImageSets/Segmentation/train.txt', '--cam-dir',
         osp.join(labels, 'cams'), '--label-dir',
         labels, '--gt-dir', 'SegmentationClass', '--out-dir', grids,
         '--num', '8'], osp.join(ROOT, work, 'visualize.log'))

    print('\nCAM baseline on the toy set')
    print(f'  CAM, val mIoU at best threshold:   {cam_val:6.2f} '
          f'(threshold {bg_thr})')
    print(f'  pseudo labels, train mIoU:         {label_miou:6.2f}')
    print(f'  segmenter on pseudo labels, val:   {seg_miou:6.2f}')
    print(f'  prediction overlays: {overlays}/')
    print(f'  image | CAM | pseudo label | GT:  {grids}/')


if __name__ == '__main__':
    main()
