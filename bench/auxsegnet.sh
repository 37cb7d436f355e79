#!/usr/bin/env bash
# AuxSegNet+ and AuxSegNet on SynthVOC (docs/benchmarks.md). Phase (a) of
# both is the CAM-baseline classifier of bench/cam_baseline.sh (the same
# recipe), its keys renamed (run configs/auxsegnet_plus/*_cls.py instead to
# train it here). Each method: training, label scores of its 4 stages,
# single-scale test. Their labels(0) feed bench/auxsegnet_ablations.sh.
# Logs, wall times and peak memory go to $OUT (default work_dirs/bench);
# finished steps are skipped on a re-run, an interrupted training resumes.
# Usage: bash bench/auxsegnet.sh [step ...] (default, in order:
# auxsegnet_plus auxsegnet)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # PY, OUT, check_steps, step NAME CMD...
CLS=$OUT/auxsegnet_cls/iter_800.pth
KNOWN="auxsegnet_plus auxsegnet"
STEPS=${*:-$KNOWN}
set -f  # a quoted * or ? reaches check_steps as typed
check_steps "$KNOWN" $STEPS
set +f
[[ $CLS -nt $OUT/cam_cls/iter_800.pth ]] ||  # converted after the last training
  $PY tools/model_converters/cam_classifier_to_auxsegnet.py \
    $OUT/cam_cls/iter_800.pth $CLS

for s in $STEPS; do
  case $s in
  auxsegnet_plus)
    CFG=configs/auxsegnet_plus/auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py ;;
  auxsegnet)
    CFG=configs/auxsegnet/auxsegnet_efficientnet-lite0_4x200it_synthvoc-224.py ;;
  *) echo "$0: no case for known step '$s'" >&2; exit 3 ;;
  esac
  WORK=$OUT/$s
  step ${s}_train $PY tools/train.py $CFG --work-dir $WORK \
    --cfg-options load_from=$CLS
  for k in 0 1 2 3; do
    step ${s}_labels_stage_$k $PY tools/eval_pseudo_labels.py \
      $WORK/pseudo_labels/$s/stage_$k \
      --data-root ../shared/data/synthvoc --split ImageSets/Segmentation/train.txt \
      --out $WORK/labels_stage_$k.json
  done
  step ${s}_test_ss $PY tools/test.py $CFG $WORK/iter_800.pth \
    --work-dir $WORK/test_ss
done
