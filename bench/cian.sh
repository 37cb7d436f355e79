#!/usr/bin/env bash
# CIAN on SynthVOC (docs/benchmarks.md, configs/cian/README.md): seeds from
# the CAM-baseline classifier ($OUT/cam_cls/iter_800.pth, made by
# bench/like_for_like.sh cls) and their quality, the two rounds and their
# test-time rows, labels(2) quality, the LargeFOV-on-seeds control, the
# Table 2 / 3 rows (round 1; the baseline and full rows also with CRF) and
# Table 4 (5 % / 10 % GT-substituted seeds, baseline and full CIAN). Logs,
# wall times and peak memory go to $OUT (default work_dirs/bench); finished
# steps are skipped on a re-run.
# Usage: bash bench/cian.sh [step ...] (default, in order: seeds cian
# control ablations table4)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # malloc settings, PY, OUT, step NAME CMD...
DATA=../shared/data/synthvoc
DIR=configs/cian
CIAN=$DIR/cian_efficientnet-lite0_2x400it_synthvoc-224.py
SEEDS=$OUT/cian_seeds
KNOWN="seeds cian control ablations table4"
STEPS=${*:-$KNOWN}
set -f  # a quoted * or ? reaches check_steps as typed
check_steps "$KNOWN" $STEPS
set +f

evaluate() {  # evaluate NAME LABEL_DIR: label quality on the train masks
  step "$1" $PY tools/eval_pseudo_labels.py "$2" --data-root $DATA \
    --split ImageSets/Segmentation/train.txt --out "$OUT/$1.json"
}

round1() {  # round1 NAME CONFIG [cfg-options...]: one Table 2 / 3 row
  local name=$1 cfg=$2; shift 2
  step "cian_abl_$name" $PY tools/train.py "$cfg" \
    --work-dir "$OUT/cian_ablations/$name" --cfg-options \
    train_dataloader.dataset.pseudo_label_dir=$SEEDS "$@"
}

for s in $STEPS; do case $s in
seeds)
  step cian_seeds $PY tools/make_pseudo_labels.py \
    $DIR/cian-seeds_efficientnet-lite0_800it_synthvoc-224.py \
    $OUT/cam_cls/iter_800.pth --out-dir $SEEDS
  evaluate cian_seeds_eval $SEEDS ;;
cian)
  step cian_train $PY tools/train.py $CIAN --work-dir $OUT/cian \
    --cfg-options train_dataloader.dataset.pseudo_label_dir=$SEEDS
  evaluate cian_labels2_eval $OUT/cian/pseudo_labels/cian/stage_1
  step cian_test_round1 $PY tools/test.py $CIAN $OUT/cian/iter_400.pth \
    --work-dir $OUT/cian/test_round1
  step cian_test_crf5 $PY tools/test.py $CIAN $OUT/cian/iter_800.pth \
    --work-dir $OUT/cian/test_crf5 --cfg-options model.test_cfg.crf.num_iters=5
  for row in test-msf test-msf-crf; do
    step cian_$row $PY tools/test.py \
      $DIR/ablations/${row}_efficientnet-lite0_2x400it_synthvoc-224.py \
      $OUT/cian/iter_800.pth --work-dir $OUT/cian/$row
  done ;;
control)
  step cian_control $PY tools/train.py \
    $DIR/largefov_efficientnet-lite0_800it_synthvoc-224_cian-seeds.py \
    --work-dir $OUT/cian_control \
    --cfg-options train_dataloader.dataset.pseudo_label_dir=$SEEDS ;;
ablations)
  for row in self-affinity ce full random-ce random-full; do
    round1 $row $DIR/ablations/${row}_efficientnet-lite0_1x400it_synthvoc-224.py
  done
  for row in self-affinity full; do  # single scale + CRF 5 iterations
    step cian_abl_${row}_crf5 $PY tools/test.py \
      $DIR/ablations/${row}_efficientnet-lite0_1x400it_synthvoc-224.py \
      $OUT/cian_ablations/$row/iter_400.pth \
      --work-dir $OUT/cian_ablations/$row/test_crf5 \
      --cfg-options model.test_cfg.crf.num_iters=5
  done ;;
table4)
  for ratio in 0.05 0.10; do
    step cian_seeds_gt$ratio $PY tools/substitute_gt_labels.py $SEEDS \
      $OUT/cian_seeds_gt$ratio --ratio $ratio --seed 0 --data-root $DATA
    evaluate cian_seeds_gt${ratio}_eval $OUT/cian_seeds_gt$ratio
    for row in self-affinity full; do
      step cian_t4_${row}_gt$ratio $PY tools/train.py \
        $DIR/ablations/${row}_efficientnet-lite0_1x400it_synthvoc-224.py \
        --work-dir $OUT/cian_table4/${row}_gt$ratio --cfg-options \
        train_dataloader.dataset.pseudo_label_dir=$OUT/cian_seeds_gt$ratio
    done
  done ;;
*) echo "$0: no case for known step '$s'" >&2; exit 3 ;;
esac; done
grep -H -o "mIoU: [0-9.]*" $OUT/cian*.log | sed 's/^/val /' || true
