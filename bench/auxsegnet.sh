#!/usr/bin/env bash
# AuxSegNet on SynthVOC (docs/benchmarks.md), same phase (a) as AuxSegNet+
# (the CAM-baseline classifier, converted as there). Its labels(0) feed the
# ablation rows (bench/auxsegnet_ablations.sh). Logs, wall times and peak
# memory go to $OUT (default work_dirs/bench); finished steps are skipped on
# a re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # PY, OUT, step NAME CMD...
CFG=configs/auxsegnet/auxsegnet_efficientnet-lite0_4x200it_synthvoc-224.py
WORK=$OUT/auxsegnet
CLS=$OUT/auxsegnet_cls/iter_800.pth
[[ $CLS -nt $OUT/cam_cls/iter_800.pth ]] ||  # converted after the last training
  $PY tools/model_converters/cam_classifier_to_auxsegnet.py \
    $OUT/cam_cls/iter_800.pth $CLS
step auxsegnet_train $PY tools/train.py $CFG --work-dir $WORK \
  --cfg-options load_from=$CLS
for k in 0 1 2 3; do
  step auxsegnet_labels_stage_$k $PY tools/eval_pseudo_labels.py \
    $WORK/pseudo_labels/auxsegnet/stage_$k \
    --data-root ../shared/data/synthvoc --split ImageSets/Segmentation/train.txt \
    --out $WORK/labels_stage_$k.json
done
step auxsegnet_test_ss $PY tools/test.py $CFG $WORK/iter_800.pth \
  --work-dir $WORK/test_ss
