#!/usr/bin/env bash
# The one way the experiment scripts (learning_experiments.sh, exploitability_experiments.sh,
# inner_loop_study.sh) run bidsim: resumable, JOBS at a time, each run recorded with its command and commit.
#
# Sourced, it defines run_all, which reads "DIR ARGS..." lines on stdin and runs `$BIDSIM ARGS $RUN_FLAGS
# --out $OUT/DIR` for each DIR without a summary.json or same_run.json (a finished run is skipped). Set before
# calling:
#   OUT     where the runs go             BIDSIM     the program
#   JOBS    parallel runs (default 1)     RUN_FLAGS  flags every run gets (e.g. --threads 1 --quiet)
#   DEADLINE  seconds since the epoch: no run starts after it, so a chunk ends cleanly and the next
#             invocation picks up where it stopped
#   RUN_UNLESS  a command called as `RUN_UNLESS DIR ARGS...` just before a run would start: when it exits 0 it
#             has shown the run to be the same as one already finished and written DIR/same_run.json saying
#             which and why, and the run is not started (tools/table1_same_run.py)
# A run whose folder holds a checkpoint.pt (an interrupted `train --checkpoint-every`) continues from it with
# --resume, which continues bit for bit. Output is appended to $OUT/DIR.log, which is also the run's lock, so
# several invocations may share OUT; $OUT/DIR/command.txt records the command line and commit of a run that
# finished.
# Executed as `experiment_runs.sh one DIR ARGS...`, it is the single run that run_all starts through xargs.
set -euo pipefail
experiment_runs_script=$(readlink -f "${BASH_SOURCE[0]}")

run_all() {
  : "${OUT:?run_all needs OUT}" "${BIDSIM:?run_all needs BIDSIM}"
  local commit
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  while read -r dir args; do
    [ -n "$dir" ] || continue
    [ -f "$OUT/$dir/summary.json" ] || [ -f "$OUT/$dir/same_run.json" ] && continue
    echo "$dir $args"
  done | OUT=$OUT BIDSIM=$BIDSIM RUN_FLAGS=${RUN_FLAGS:-} DEADLINE=${DEADLINE:-} RUN_UNLESS=${RUN_UNLESS:-} \
           RUN_COMMIT=$commit \
           xargs -r -P "${JOBS:-1}" -L 1 "$experiment_runs_script" one
}

run_one() {
  local dir=$1
  shift
  if [ -n "$DEADLINE" ] && [ "$(date +%s)" -ge "$DEADLINE" ]; then
    echo "deadline: $dir left for the next chunk"
    return 0
  fi
  # Several invocations may share OUT (e.g. one per core): a run's log is its lock, and a run finished by
  # another invocation meanwhile is not started again.
  local lock
  exec {lock}>>"$OUT/$dir.log"
  if ! flock -n "$lock"; then
    echo "busy: $dir (another invocation runs it)"
    return 0
  fi
  if [ -f "$OUT/$dir/summary.json" ] || [ -f "$OUT/$dir/same_run.json" ]; then return 0; fi
  if [ -n "$RUN_UNLESS" ] && $RUN_UNLESS "$dir" "$@"; then
    echo "same run: $dir (see $OUT/$dir/same_run.json)"
    return 0
  fi
  local resume=()
  [ -f "$OUT/$dir/checkpoint.pt" ] && resume=(--resume "$OUT/$dir/checkpoint.pt")
  echo "run $dir ${resume[*]}"
  mkdir -p "$OUT/$dir"
  # shellcheck disable=SC2086  # RUN_FLAGS is a list of flags
  if "$BIDSIM" "$@" "${resume[@]}" $RUN_FLAGS --out "$OUT/$dir" >> "$OUT/$dir.log" 2>&1; then
    echo "bidsim $* $RUN_FLAGS --out $OUT/$dir  # commit $RUN_COMMIT" > "$OUT/$dir/command.txt"
  else
    echo "FAILED $dir (see $OUT/$dir.log)"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    one) shift; run_one "$@" ;;
    *) echo "usage: source $0 (then run_all), or $0 one DIR ARGS..." >&2; exit 2 ;;
  esac
fi
