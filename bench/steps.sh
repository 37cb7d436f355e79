# Sourced by the bench/*.sh run scripts: `step NAME CMD...` runs CMD unless
# NAME is listed in $OUT/done.txt, logs it to $OUT/NAME.log and records its
# wall time and peak RSS in $OUT/times.txt; a finished step is appended to
# done.txt, so an interrupted script resumes at the first unfinished step.
step() {
  local name=$1; shift
  if grep -qx "$name" "$OUT/done.txt" 2>/dev/null; then
    echo "== $name: done before, skipped"; return; fi
  echo "== $name: $*" | tee -a "$OUT/steps.txt"
  /usr/bin/time -f "$name wall_s=%e max_rss_kb=%M" -a -o "$OUT/times.txt" \
    "$@" > "$OUT/$name.log" 2>&1
  echo "$name" >> "$OUT/done.txt"
  tail -1 "$OUT/times.txt"
}
