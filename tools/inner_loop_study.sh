#!/usr/bin/env bash
# The inner-loop study of docs/bpg.md (issue 13.1): how many x* steps per iteration
# (learning.unified_solution_steps) and how many paired environments per agent for the dual update (13)
# (learning.dual_envs_per_agent) BPG needs, on scenarios/bpg-10.yaml at ε = 0.02 (the constraint binds),
# 40 iterations, no final evaluation. Per run train.csv logs R(x*) − R(θ) of the measured agents
# (unified_gain_mean), the standard error of each λ_i (lambda_se_mean) and the iteration time.
# `lr`: x*'s Adam step size (learning.lr_unified_solution 0.02, 0.01, 0.005, 0.002) at the defaults,
# ε = 0.08, 150 iterations: whether x* stays a better deviation than θ over a whole run.
# Usage: tools/inner_loop_study.sh [run|lr|report] [BIDSIM]   (resumable: finished runs are skipped)
# Environment: SEEDS (default "1 2 3"), JOBS (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-run}
BIDSIM=${2:-build/tools/bidsim}
SEEDS=${SEEDS:-"1 2 3"}
JOBS=${JOBS:-1}
OUT=results/learning/inner-loops
export OMP_WAIT_POLICY=passive
mkdir -p "$OUT"

# Runs "DIR ARGS..." lines as `bidsim train scenarios/bpg-10.yaml --algo bpg ARGS` without the final
# evaluation, JOBS at a time (tools/experiment_runs.sh: finished runs skipped, command and commit recorded).
RUN_FLAGS="--set learning.best_response.steps=0 --threads 1 --quiet"
# shellcheck source=tools/experiment_runs.sh
source tools/experiment_runs.sh
train_all() {
  while read -r dir args; do echo "$dir train scenarios/bpg-10.yaml --algo bpg $args"; done | run_all
}

run() {
  for seed in $SEEDS; do
    for steps in 1 2 4 8; do
      for dual in 2 4 8; do
        echo "x$steps-d$dual-s$seed --epsilon 0.02 --iterations 40 --seed $seed" \
             "--set learning.unified_solution_steps=$steps --set learning.dual_envs_per_agent=$dual"
      done
    done
  done | train_all
}

lr() {
  for seed in $SEEDS; do
    for lr in 0.02 0.01 0.005 0.002; do
      echo "lr$lr-s$seed --epsilon 0.08 --iterations 150 --seed $seed --set learning.lr_unified_solution=$lr"
    done
  done | train_all
}

case "$what" in
  run) run ;;
  lr) lr ;;
  report) /usr/bin/python3 tools/inner_loop_report.py "$OUT" ;;
  *) echo "usage: $0 [run|lr|report] [BIDSIM]" >&2; exit 2 ;;
esac
