#!/usr/bin/env bash
# AuxSegNet on SynthVOC (docs/benchmarks.md), same phase (a) as AuxSegNet+
# (bench/auxsegnet_plus.sh converts it). Its labels(0) also feed the
# ablation rows (bench/auxsegnet_ablations.sh).
set -euo pipefail
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736
OUT=${OUT:-work_dirs/bench}
CFG=configs/auxsegnet/auxsegnet_efficientnet-lite0_4x200it_synthvoc-224.py
WORK=$OUT/auxsegnet
/usr/bin/time -v python tools/train.py $CFG --work-dir $WORK \
    --cfg-options load_from=$OUT/auxsegnet_cls/iter_800.pth \
    > $OUT/auxsegnet_train.log 2>&1
for k in 0 1 2 3; do
    python tools/eval_pseudo_labels.py $WORK/pseudo_labels/auxsegnet/stage_$k \
        --data-root ../shared/data/synthvoc --split ImageSets/Segmentation/train.txt \
        --out $WORK/labels_stage_$k.json
done
python tools/test.py $CFG $WORK/iter_800.pth --work-dir $WORK/test_ss
