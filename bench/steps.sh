# Sourced by every bench/*.sh, from the repository root, after
# `set -euo pipefail`: sets the malloc settings of docs/benchmarks.md, PY
# (default .venv/bin/python) and OUT (default work_dirs/bench, created by
# the first `step`).
# `check_steps`, below, validates the step names of a run up front.
# `positive_int NAME VALUE` exits with an error unless VALUE is one.
# A PY whose first word is not a command exits with an error before any
# step runs.
# `step NAME CMD...` runs CMD unless
# NAME is listed in $OUT/done.txt, logs it to $OUT/NAME.log and records its
# wall time and peak RSS in $OUT/times.txt; a finished step is appended to
# done.txt, so an interrupted script resumes at the first unfinished step.
# A training step interrupted after its first checkpoint (its --work-dir
# holds mmengine's `last_checkpoint`) resumes from it with `--resume` and
# `load_from` set to that checkpoint (a `load_from` of the step, such as a
# pretrained classifier, would otherwise be what mmengine resumes from); the
# log is appended to, not replaced, and the times line reads `resumed`. A
# work dir with a checkpoint but no step log (written by other means) is an
# error, not resumed; so is a resumed run that logs no final validation
# (its checkpoint was the last one: nothing left to train or score).
# To retrain a finished step from scratch, remove its name from done.txt
# AND its work dir (otherwise it resumes from the last checkpoint there).
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736
PY=${PY:-.venv/bin/python}
OUT=${OUT:-work_dirs/bench}
read -r PY_CMD _ <<< "$PY"  # PY may carry arguments
command -v "$PY_CMD" > /dev/null || {
  echo "PY='$PY': '$PY_CMD' is not a command (run \`make install\` or set PY)" >&2
  exit 2; }

# `check_steps "KNOWN ..." STEP...` exits with an error before any step runs
# unless there is a STEP and every STEP is one of KNOWN.
check_steps() {
  local list=$1 s; shift
  (( $# )) || { echo "no step given (known: $list)" >&2; exit 2; }
  for s in "$@"; do [[ " $list " == *" $s "* ]] || {
    echo "unknown step '$s' (known: $list)" >&2; exit 2; }; done
}

positive_int() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || {
    echo "$1 must be a positive integer, got '$2'" >&2; exit 2; }
}

# `resume_args CKPT CMD...` sets `args` to CMD resuming from CKPT: every
# `load_from=` option is dropped and `load_from=CKPT` follows the first
# `--cfg-options` (or is appended with one), then `--resume`.
resume_args() {
  local ckpt=$1 a cfg=""; shift
  args=()
  for a in "$@"; do
    [[ $a == load_from=* ]] && continue
    args+=("$a")
    [[ $a == --cfg-options && -z $cfg ]] && { args+=("load_from=$ckpt"); cfg=1; }
  done
  [[ -n $cfg ]] || args+=(--cfg-options "load_from=$ckpt")
  args+=(--resume)
}

step() {
  local name=$1; shift
  if grep -qxF "$name" "$OUT/done.txt" 2>/dev/null; then
    echo "== $name: done before, skipped"; return; fi
  mkdir -p "$OUT"
  local args=("$@") work_dir="" resumed="" ckpt i start=0 vals=0
  for ((i = 0; i < ${#args[@]} - 1; i++)); do
    [[ ${args[i]} == --work-dir ]] && work_dir=${args[i + 1]}; done
  if [[ -n $work_dir && -f $work_dir/last_checkpoint ]]; then
    [[ -f $OUT/$name.log ]] || {
      echo "== $name: $work_dir holds a checkpoint that this step did not" \
        "write (no $OUT/$name.log): remove the work dir to retrain, or add" \
        "$name to $OUT/done.txt to keep it" >&2; return 1; }
    ckpt=$(< "$work_dir/last_checkpoint") start=$(stat -c %s "$OUT/$name.log")
    resume_args "$ckpt" "$@"; resumed=" resumed"
    echo "== $name: resuming from $ckpt"
  else
    : > "$OUT/$name.log"
  fi
  echo "== $name:$resumed ${args[*]}" | tee -a "$OUT/steps.txt"
  if ! /usr/bin/time -f "$name$resumed wall_s=%e max_rss_kb=%M" -a \
      -o "$OUT/times.txt" "${args[@]}" >> "$OUT/$name.log" 2>&1; then
    echo "== $name failed: see $OUT/$name.log" >&2; return 1; fi
  if [[ -n $resumed ]]; then  # this run's final validation (its metrics line)
    vals=$(tail -c +$((start + 1)) "$OUT/$name.log" |
      grep -aE 'Iter\(val\) \[([0-9]+)/\1\]' | grep -cv 'eta:') || true
    (( vals > 0 )) || {
      echo "== $name: resumed from $ckpt without a validation (interrupted" \
        "after its last checkpoint?): test it with tools/test.py and append" \
        "its log to $OUT/$name.log and $name to $OUT/done.txt, or remove" \
        "$work_dir to retrain" >&2; return 1; }
  fi
  echo "$name" >> "$OUT/done.txt"
  tail -1 "$OUT/times.txt"
}
