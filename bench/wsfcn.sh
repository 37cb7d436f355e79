#!/usr/bin/env bash
# WS-FCN / SSSS on SynthVOC (docs/benchmarks.md, configs/wsfcn/README.md):
# the two models at the protocol's 1,600 iterations, WS-FCN's test-time rows
# (multi-scale + flip, CRF, "§" labels), SSSS's multi-scale + flip row, and
# the Table I / II rows at a shorter schedule (ABL_ITERS, default 400, the
# same 7/30 warm-up share) beside WS-FCN at that schedule. Logs, wall times
# and peak memory go to $OUT (default work_dirs/bench); finished steps are
# skipped on a re-run.
# About 1.5-2 h per 1,600-iteration run and about 20 min per ablation row on
# 2 CPU cores: run the steps you need.
# Usage: bash bench/wsfcn.sh [step ...] (default, in order: wsfcn ssss
# wsfcn_tta ablations)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # PY, OUT, positive_int, step NAME CMD...
ABL_ITERS=${ABL_ITERS:-400}
positive_int ABL_ITERS "$ABL_ITERS"
DIR=configs/wsfcn
WSFCN=$DIR/wsfcn_efficientnet-lite0_1600it_synthvoc-224.py
SSSS=$DIR/ssss_efficientnet-lite0_1600it_synthvoc-224.py
ROWS="baseline fca-mclm fca sf2 context-nonlocal context-large-kernel \
context-ppm fusion-sum fusion-concat fusion-mul"
KNOWN="wsfcn ssss wsfcn_tta ablations"
STEPS=${*:-$KNOWN}
set -f  # a quoted * or ? reaches check_steps as typed
check_steps "$KNOWN" $STEPS
set +f

short() {  # short NAME CONFIG: one row at ABL_ITERS iterations
  local warmup=$(( (ABL_ITERS * 7 + 15) / 30 ))
  step "wsfcn_abl_$1" $PY tools/train.py "$2" \
    --work-dir "$OUT/wsfcn_ablations/$1" --cfg-options \
    train_cfg.max_iters=$ABL_ITERS train_cfg.val_interval=$ABL_ITERS \
    param_scheduler.0.end=$ABL_ITERS custom_hooks.0.warmup_iters=$warmup \
    default_hooks.checkpoint.interval=$ABL_ITERS
}

MSF=('model.test_cfg.scales=[1.0,0.5,1.5,2.0]' model.test_cfg.flip=True
     'model.test_cfg.pad_size=[512,512]')  # the paper's test-time extras

for s in $STEPS; do case $s in
wsfcn) step wsfcn_train $PY tools/train.py $WSFCN --work-dir $OUT/wsfcn ;;
ssss)
  step ssss_train $PY tools/train.py $SSSS --work-dir $OUT/ssss
  step ssss_test_msf $PY tools/test.py $SSSS $OUT/ssss/iter_1600.pth \
    --work-dir $OUT/ssss/test_msf --cfg-options "${MSF[@]}" ;;
wsfcn_tta)
  CKPT=$OUT/wsfcn/iter_1600.pth
  step wsfcn_test_ms $PY tools/test.py $WSFCN $CKPT \
    --work-dir $OUT/wsfcn/test_ms --cfg-options \
    'model.test_cfg.scales=[1.0,0.5,1.5,2.0]' 'model.test_cfg.pad_size=[512,512]'
  step wsfcn_test_flip $PY tools/test.py $WSFCN $CKPT \
    --work-dir $OUT/wsfcn/test_flip --cfg-options model.test_cfg.flip=True
  step wsfcn_test_msf $PY tools/test.py $WSFCN $CKPT \
    --work-dir $OUT/wsfcn/test_msf --cfg-options "${MSF[@]}"
  step wsfcn_test_msf_crf $PY tools/test.py $WSFCN $CKPT \
    --work-dir $OUT/wsfcn/test_msf_crf --cfg-options "${MSF[@]}" model.test_cfg.crf=True
  step wsfcn_test_msf_gt $PY tools/test.py $WSFCN $CKPT \
    --work-dir $OUT/wsfcn/test_msf_gt --cfg-options "${MSF[@]}" \
    model.test_cfg.use_gt_labels=True ;;
ablations)
  short wsfcn $WSFCN
  for row in $ROWS; do
    short $row $DIR/ablations/${row}_efficientnet-lite0_1600it_synthvoc-224.py
  done ;;
*) echo "$0: no case for known step '$s'" >&2; exit 3 ;;
esac; done
grep -H -o "mIoU: [0-9.]*" $OUT/wsfcn*.log $OUT/ssss*.log | sed 's/^/val /' || true
