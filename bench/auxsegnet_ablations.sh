#!/usr/bin/env bash
# AuxSegNet+ ablation rows on SynthVOC (configs/auxsegnet_plus/ablations):
# one 200-iteration training (one stage) on fixed labels(0), then single-scale val mIoU.
# Needs labels(0) of bench/auxsegnet.sh: AuxSegNet's (single-scale CAMs) and
# AuxSegNet+'s (multi-scale, row dual_ms-cam). Logs, wall times
# and peak memory go to $OUT (default work_dirs/bench); finished rows are
# skipped on a re-run.
# Usage: bash bench/auxsegnet_ablations.sh [row ...]  (default: all rows)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # PY, OUT, check_steps, step NAME CMD...
DIR=configs/auxsegnet_plus/ablations
SS=$OUT/auxsegnet/pseudo_labels/auxsegnet/stage_0
MS=$OUT/auxsegnet_plus/pseudo_labels/auxsegnet_plus/stage_0
KNOWN="seg-only multi-task seg-sal seg-cls cross-pairwise_seg-constraint \
seg-pairwise_seg-constraint cross-pairwise dual_ss-cam dual_ms-cam"
ROWS=${*:-$KNOWN}
set -f  # a quoted * or ? reaches check_steps as typed
check_steps "$KNOWN" $ROWS
set +f
labels_of() { [ "$1" = dual_ms-cam ] && echo $MS || echo $SS; }
for row in $ROWS; do  # every row's labels(0) before the first training
  labels=$(labels_of $row)
  test -f $labels/meta.json || {
    echo "labels(0) of row $row missing: $labels/meta.json" >&2; exit 1; }
done
for row in $ROWS; do
  labels=$(labels_of $row)
  step ablation_$row $PY tools/train.py $DIR/${row}_1x200it_synthvoc-224.py \
    --work-dir $OUT/ablations/$row --cfg-options \
    load_from=$OUT/auxsegnet_cls/iter_800.pth \
    train_dataloader.dataset.pseudo_label_dir=$labels
  grep -o "mIoU: [0-9.]*" $OUT/ablation_$row.log | tail -1 | sed "s/^/$row /" |
    grep . || echo "$row: no mIoU in $OUT/ablation_$row.log" >&2
done
