#!/usr/bin/env bash
# The learning experiments of README "Learning", rerunnable on a CPU (results/learning/):
#   table1  BPG paper Table-1 analogue on scenarios/bpg-100.yaml: independent, cooperative, and bpg /
#           bpg_zero over an ε grid, several seeds; social welfare, max exploitability (eq. 15),
#           compliance rate, revenue (mean ± std over seeds).
#   table3  Table-3 analogue: tools/exploitability_experiments.sh table3 (R(θ)/R* and R(x*)/R*).
#   timing  BPG iteration time against N = 10, 100, 1000 at a fixed rollout batch.
# Usage: tools/learning_experiments.sh [table1|table3|timing|report|all] [BIDSIM]
# Environment: SEEDS (default "1 2"), JOBS (parallel runs, default 2), ITERATIONS (table1, default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
BIDSIM=${2:-build/tools/bidsim}
SEEDS=${SEEDS:-"1 2"}
JOBS=${JOBS:-2}
ITERATIONS=${ITERATIONS:-40}
OUT=results/learning
export OMP_WAIT_POLICY=passive
mkdir -p "$OUT"

# One run per line: "DIR ARGS...", run JOBS at a time with one thread each; finished runs are skipped.
run_all() {
  while read -r dir args; do
    [ -f "$OUT/$dir/summary.json" ] && continue
    echo "$dir $args"
  done | xargs -P "$JOBS" -L 1 sh -c 'd=$1; shift; echo "run $d"; "'"$BIDSIM"'" "$@" --threads 1 --quiet --out "'"$OUT"'/$d" > "'"$OUT"'/$d.log" 2>&1 || echo "FAILED $d (see '"$OUT"'/$d.log)"' sh
}

table1() {
  # Cheaper evaluation than the scenario's defaults so the whole table fits in about an hour of two cores:
  # 30 best-response steps with 2 envs per agent, final returns on 4 envs per agent.
  local br="--set learning.best_response.steps=30 --set learning.best_response.envs_per_agent=2"
  local common="train scenarios/bpg-100.yaml --iterations $ITERATIONS $br --set learning.best_response.eval_envs_per_agent=4"
  for seed in $SEEDS; do
    for algo in independent cooperative; do echo "t1-$algo-s$seed $common --algo $algo --seed $seed"; done
    for eps in 0.16 0.12 0.08 0.04 0.005 0; do echo "t1-bpg-e$eps-s$seed $common --algo bpg --epsilon $eps --seed $seed"; done
    for eps in 0.04 0.005 0; do echo "t1-bpg_zero-e$eps-s$seed $common --algo bpg_zero --epsilon $eps --seed $seed"; done
  done | run_all
}

table3() { tools/exploitability_experiments.sh table3 "$BIDSIM"; }  # Table 3 lives there (docs/exploitability.md)

timing() {
  # 3 iterations each, no evaluation; the rollout batch (32 envs, dual batch capped at 256) is fixed.
  for n in 10 100 1000; do
    echo "timing-n$n train scenarios/bpg-100.yaml --set agents.count=$n --iterations 3 --seed 1" \
         "--set learning.best_response.steps=0 --set learning.best_response.max_agents=10"
  done | JOBS=1 run_all
}

report() { python3 tools/learning_report.py "$OUT"; }

case "$what" in
  table1) table1 ;;
  table3) table3 ;;
  timing) timing ;;
  report) report ;;
  all) table1; table3; timing; report ;;
  *) echo "usage: $0 [table1|table3|timing|report|all] [BIDSIM]" >&2; exit 2 ;;
esac
