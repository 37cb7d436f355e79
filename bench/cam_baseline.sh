#!/usr/bin/env bash
# The CAM baseline and the fully supervised upper bound on SynthVOC, under the
# benchmark protocol of docs/benchmarks.md. Every step's log, wall time and
# peak memory go to $OUT (default work_dirs/bench); finished steps are skipped
# on a re-run. ~1 h on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # PY, OUT, step NAME CMD...
(( $# == 0 )) || { echo "usage: bash bench/cam_baseline.sh (no arguments)" >&2; exit 2; }
CLS=configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py
SEG=configs/cam_baseline/largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py
FULL=configs/fully_supervised/largefov_efficientnet-lite0_800it_synthvoc-224.py
CLS_DIR=$OUT/cam_cls
LABELS=$CLS_DIR/pseudo_labels/cam/stage_0
SCALES="1.0 0.5 1.5 2.0"

step cls_train $PY tools/train.py $CLS --work-dir $CLS_DIR
step cls_test_val_ms $PY tools/test.py $CLS $CLS_DIR/iter_800.pth \
  --work-dir $CLS_DIR/test_val_ms --cfg-options \
  "model.test_cfg.scales=[1.0,0.5,1.5,2.0]" model.test_cfg.flip=True
THR=$(grep -o 'cam/best_thr: [0-9.]*' $OUT/cls_test_val_ms.log | tail -1 |
  awk '{print $2}') || true
[[ -n $THR ]] || {
  echo "no cam/best_thr in $OUT/cls_test_val_ms.log: remove" \
    "cls_test_val_ms from $OUT/done.txt to run that step again" >&2; exit 1; }
echo "multi-scale background threshold (best on val): $THR" | tee -a "$OUT/steps.txt"
step pseudo_labels_thr$THR $PY tools/make_pseudo_labels.py $CLS $CLS_DIR/iter_800.pth \
  --out-dir $LABELS --scales $SCALES --flip --bg-thr "$THR"
step seg_train $PY tools/train.py $SEG --work-dir $OUT/seg_pseudo \
  --cfg-options train_dataloader.dataset.pseudo_label_dir=$LABELS
step full_train $PY tools/train.py $FULL --work-dir $OUT/fully_supervised
step cls_test_train_ss $PY tools/test.py $CLS $CLS_DIR/iter_800.pth \
  --work-dir $CLS_DIR/test_train_ss --cfg-options \
  test_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt
echo "== done" | tee -a "$OUT/steps.txt"
