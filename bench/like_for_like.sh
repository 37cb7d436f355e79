#!/usr/bin/env bash
# The like-for-like rows of docs/benchmarks.md (consolidation issue): the CAM
# baseline with a fixed seed, its segmenter over 3 seeds (run-to-run
# spread), the same segmenter under AuxSegNet's optimiser (plain SGD) and
# under CoSA's (AdamW), AuxSegNet's control (its model, one 800-iteration
# stage on fixed labels(0)) and the multi-task ablation row. Logs, wall times
# and peak memory go to $OUT (default work_dirs/bench); finished steps are
# skipped on a re-run. About 4 h on 2 CPU cores.
# Usage: bash bench/like_for_like.sh [step ...] (default: all, in order:
# cls labels seg plain_sgd adamw aux_labels0 control multi_task)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/steps.sh  # PY, OUT, positive_int, step NAME CMD...
SEEDS=${SEEDS:-0 1 2}
SEED_RE='(0|[1-9][0-9]{0,8})'  # below 2**32 (numpy), no leading zeros
[[ $SEEDS =~ ^\ *$SEED_RE(\ +$SEED_RE)*\ *$ ]] || {
  echo "SEEDS must be integers 0-999999999 separated by spaces, got '$SEEDS'" >&2
  exit 2; }
CLS=configs/cam_baseline/cam_efficientnet-lite0_800it_synthvoc-224.py
SEG=configs/cam_baseline/largefov_efficientnet-lite0_800it_synthvoc-224_pseudo.py
SGD0=configs/cam_baseline/largefov_efficientnet-lite0_800it_synthvoc-224_pseudo_plain-sgd.py
ADAMW=configs/cam_baseline/largefov_efficientnet-lite0_800it_synthvoc-224_pseudo_adamw.py
AUX=configs/auxsegnet/auxsegnet_efficientnet-lite0_4x200it_synthvoc-224.py
CONTROL=configs/auxsegnet/auxsegnet_efficientnet-lite0_1x800it_synthvoc-224_fixed-labels.py
MULTI=configs/auxsegnet_plus/ablations/multi-task_1x200it_synthvoc-224.py
LABELS=$OUT/cam_cls/pseudo_labels/cam/stage_0
AUX_CLS=$OUT/auxsegnet_cls/iter_800.pth
AUX_LABELS=$OUT/auxsegnet/pseudo_labels/auxsegnet/stage_0
KNOWN="cls labels seg plain_sgd adamw aux_labels0 control multi_task"
STEPS=${*:-$KNOWN}
set -f  # a quoted * or ? reaches check_steps as typed
check_steps "$KNOWN" $STEPS
set +f

for s in $STEPS; do case $s in
cls) step cls_train $PY tools/train.py $CLS --work-dir $OUT/cam_cls \
       --cfg-options randomness.seed=0 ;;
labels) step pseudo_labels $PY tools/make_pseudo_labels.py $CLS \
       $OUT/cam_cls/iter_800.pth --out-dir $LABELS ;;
seg) for seed in $SEEDS; do
       step seg_pseudo_seed$seed $PY tools/train.py $SEG \
         --work-dir $OUT/seg_pseudo_seed$seed --cfg-options \
         randomness.seed=$seed train_dataloader.dataset.pseudo_label_dir=$LABELS
     done ;;
plain_sgd) step seg_plain_sgd $PY tools/train.py $SGD0 \
       --work-dir $OUT/seg_plain_sgd --cfg-options randomness.seed=0 \
       train_dataloader.dataset.pseudo_label_dir=$LABELS ;;
adamw) step seg_adamw $PY tools/train.py $ADAMW \
       --work-dir $OUT/seg_adamw --cfg-options randomness.seed=0 \
       train_dataloader.dataset.pseudo_label_dir=$LABELS ;;
aux_labels0)
     [[ $AUX_CLS -nt $OUT/cam_cls/iter_800.pth ]] ||  # converted after training
       $PY tools/model_converters/cam_classifier_to_auxsegnet.py \
         $OUT/cam_cls/iter_800.pth $AUX_CLS
     step aux_labels0 $PY tools/make_pseudo_labels.py $AUX $AUX_CLS \
       --out-dir $AUX_LABELS --cfg-options label_generator.refine=False \
       label_generator.update_saliency=False ;;
control) step aux_control $PY tools/train.py $CONTROL \
       --work-dir $OUT/auxsegnet_control --cfg-options randomness.seed=0 \
       load_from=$AUX_CLS train_dataloader.dataset.pseudo_label_dir=$AUX_LABELS ;;
multi_task) step ablation_multi-task $PY tools/train.py $MULTI \
       --work-dir $OUT/ablations/multi-task --cfg-options randomness.seed=0 \
       load_from=$AUX_CLS train_dataloader.dataset.pseudo_label_dir=$AUX_LABELS ;;
*) echo "$0: no case for known step '$s'" >&2; exit 3 ;;
esac; done
grep -H -o "mIoU: [0-9.]*" $OUT/*.log | sed 's/^/val /' || true
