#!/usr/bin/env bash
# AuxSegNet+ on SynthVOC (docs/benchmarks.md). Phase (a) is the CAM-baseline
# classifier of bench/cam_baseline.sh (the same recipe), its keys renamed;
# run configs/auxsegnet_plus/*_cls.py instead to train it here.
set -euo pipefail
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736
OUT=${OUT:-work_dirs/bench}
CFG=configs/auxsegnet_plus/auxsegnet-plus_efficientnet-lite0_4x200it_synthvoc-224.py
python tools/model_converters/cam_classifier_to_auxsegnet.py \
    $OUT/cam_cls/iter_800.pth $OUT/auxsegnet_cls/iter_800.pth
# interrupted? add --resume --cfg-options load_from=None
/usr/bin/time -v python tools/train.py $CFG --work-dir $OUT/auxsegnet_plus \
    --cfg-options load_from=$OUT/auxsegnet_cls/iter_800.pth \
    > $OUT/auxsegnet_plus_train.log 2>&1
for k in 0 1 2 3; do
    python tools/eval_pseudo_labels.py \
        $OUT/auxsegnet_plus/pseudo_labels/auxsegnet_plus/stage_$k \
        --data-root ../shared/data/synthvoc --split ImageSets/Segmentation/train.txt \
        --out $OUT/auxsegnet_plus/labels_stage_$k.json
done
python tools/test.py $CFG $OUT/auxsegnet_plus/iter_800.pth \
    --work-dir $OUT/auxsegnet_plus/test_ss
