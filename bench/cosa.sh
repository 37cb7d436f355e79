#!/usr/bin/env bash
# CoSA on SynthVOC (docs/benchmarks.md, configs/cosa/README.md): the main
# run at the protocol's 1,600 iterations; its test rows (GT-label masking,
# ON instead of AN, CRF); CPL quality (AN's CAM labels of M' / M-dagger' at
# the training scales + flips, background below the threshold each tracker
# held at the last iteration: test_cfg.bg_threshold='tracked') on train and
# val, and AN's classification mAP on val (bench/cls_map.py); and the
# section 4 rows at a shorter schedule (ABL_ITERS, default 400 as for
# WS-FCN's tables: 13 rows of about 40 min here, against 1.5 h at 800,
# the same 3/16 warm-up share, the EMA's time constant kept relative to the
# schedule: momentum 1 - 0.9994 ** (32000 / ABL_ITERS), except for the rows
# whose AN is ON, momentum 1) beside the full model at that schedule.
# Logs, wall times and peak memory go to $OUT (default work_dirs/bench);
# finished steps are skipped on a re-run and an interrupted training
# resumes from its last checkpoint.
# The ablations_cpl step scores each trained row's CPL quality (M' on val,
# the threshold its tracker held; spec section 4 check 2 compares by it)
# and AN's classification mAP on val (bench/cls_map.py: check 2 compares
# at equal mAP), and stops at the first row not trained yet.
# The cpl_fixed step scores the main checkpoint's CPL (M' on val) at each
# fixed threshold of check 4 (0.3-0.7) beside the tracked one: the same
# CAMs, only the threshold changes.
# The cam2seg_full step trains the CAM-to-segmentation baseline (check 1)
# at the main run's 1,600 iterations.
# Usage: bash bench/cosa.sh [step ...] (default, in order: cosa cosa_test
# cpl cpl_fixed ablations ablations_cpl cam2seg_full)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # PY, OUT, positive_int, step NAME CMD...
ABL_ITERS=${ABL_ITERS:-400}
positive_int ABL_ITERS "$ABL_ITERS"
DIR=configs/cosa
COSA=$DIR/cosa_efficientnet-lite0_1600it_synthvoc-224.py
CKPT=$OUT/cosa/iter_1600.pth
TRAIN_SPLIT=test_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt
ROWS="cam2seg-baseline wo-sa wo-raw wo-csc vanilla-cam s2c-detach-features \
s2c-detach-classifier fixed-threshold-0.3 fixed-threshold-0.4 \
fixed-threshold-0.5 fixed-threshold-0.6 fixed-threshold-0.7"
KNOWN="cosa cosa_test cpl cpl_fixed ablations ablations_cpl cam2seg_full"
STEPS=${*:-$KNOWN}
set -f  # a quoted * or ? reaches check_steps as typed
check_steps "$KNOWN" $STEPS
set +f

test_row() {  # test_row NAME [cfg-options...]: the main checkpoint on val
  local name=$1; shift
  step "cosa_test_$name" $PY tools/test.py $COSA $CKPT \
    --work-dir "$OUT/cosa/test_$name" --cfg-options "$@"
}

row_cfg() {  # row_cfg ROW: the row's config (the main one for cosa)
  [[ $1 == cosa ]] && echo $COSA ||
    echo $DIR/ablations/${1}_efficientnet-lite0_1600it_synthvoc-224.py
}

short() {  # short NAME CONFIG: one row at ABL_ITERS iterations
  local warmup=$(( (ABL_ITERS * 3 + 8) / 16 ))
  local lead=$(( warmup < 100 ? warmup : 100 )) momentum=()
  grep -q "ema_momentum=1.0" "$2" || momentum=("model.ema_momentum=$($PY -c \
    "print(1 - 0.9994 ** (32000 / $ABL_ITERS))")")
  step "cosa_abl_$1" $PY tools/train.py "$2" \
    --work-dir "$OUT/cosa_ablations/$1" --cfg-options \
    train_cfg.max_iters=$ABL_ITERS train_cfg.val_interval=$ABL_ITERS \
    param_scheduler.0.end=$ABL_ITERS default_hooks.checkpoint.interval=200 \
    custom_hooks.2.warmup_iters=$warmup custom_hooks.2.lead=$lead \
    "${momentum[@]}"
}

for s in $STEPS; do case $s in
cosa) step cosa_train $PY tools/train.py $COSA --work-dir $OUT/cosa ;;
cosa_test)
  test_row masked model.test_cfg.mask_absent_classes=True
  test_row online model.test_cfg.net=online
  test_row crf model.test_cfg.crf=True ;;
cpl)
  for out in cam cam_aux; do
    test_row ${out}_val model.test_cfg.output=$out \
      model.test_cfg.bg_threshold=tracked
    test_row ${out}_train model.test_cfg.output=$out \
      model.test_cfg.bg_threshold=tracked $TRAIN_SPLIT
  done
  test_row cam_val_online model.test_cfg.output=cam \
    model.test_cfg.bg_threshold=tracked model.test_cfg.net=online
  step cosa_cls_map $PY bench/cls_map.py $COSA $CKPT \
    --out $OUT/cosa/cls_map.json ;;
cpl_fixed)
  for xi in 0.3 0.4 0.5 0.6 0.7; do
    test_row cam_val_xi$xi model.test_cfg.output=cam \
      model.test_cfg.bg_threshold=$xi
  done ;;
ablations)
  for row in cosa $ROWS; do short $row $(row_cfg $row); done ;;
ablations_cpl)
  for row in cosa $ROWS; do
    ckpt=$OUT/cosa_ablations/$row/iter_$ABL_ITERS.pth
    [[ -f $ckpt ]] || { grep -sqxF "cosa_abl_cpl_$row" "$OUT/done.txt" &&
      grep -sqxF "cosa_abl_map_$row" "$OUT/done.txt"; } || {
      echo "== cosa_abl_cpl_$row / cosa_abl_map_$row: no $ckpt (train" \
        "the row first: bash bench/cosa.sh ablations)" >&2; exit 1; }
    step "cosa_abl_cpl_$row" $PY tools/test.py $(row_cfg $row) "$ckpt" \
      --work-dir "$OUT/cosa_ablations/$row/test_cam_val" --cfg-options \
      model.test_cfg.output=cam model.test_cfg.bg_threshold=tracked
    step "cosa_abl_map_$row" $PY bench/cls_map.py $(row_cfg $row) "$ckpt" \
      --out "$OUT/cosa_ablations/$row/cls_map.json"
  done ;;
cam2seg_full)
  step cosa_cam2seg_full $PY tools/train.py $(row_cfg cam2seg-baseline) \
    --work-dir $OUT/cosa_cam2seg_full ;;
*) echo "$0: no case for known step '$s'" >&2; exit 3 ;;
esac; done
# val mIoU, except cosa_test_cam*.log and cosa_abl_cpl_*.log: CPL quality
# (on train for the *_train logs)
grep -H -o "mIoU: [0-9.]*" "$OUT"/cosa*.log || true
# classification mAP of AN's final / earlier-layer classifier per row
grep -H -o '"cls_score": .*' "$OUT"/cosa_cls_map.log \
  "$OUT"/cosa_abl_map_*.log 2>/dev/null || true
