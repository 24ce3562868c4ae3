#!/usr/bin/env bash
# The learning experiments of README "Learning", rerunnable on a CPU (results/learning/):
#   table1  BPG paper Table-1 analogue on scenarios/bpg-100.yaml: independent, cooperative, and bpg /
#           bpg_zero over an ε grid, several seeds; social welfare, max exploitability (eq. 15),
#           compliance rate, revenue (mean ± std over seeds).
#   table3  Table-3 analogue: tools/exploitability_experiments.sh table3 (R(θ)/R* and R(x*)/R*).
#   timing  BPG iteration time against N = 10, 100, 1000 at a fixed rollout batch.
# Usage: tools/learning_experiments.sh [table1|table3|timing|report|all] [BIDSIM]
# Environment: T1_SEEDS (table1, default 1..10), EPSILONS (table1, default "0 0.04 0.08 0.12 0.16"),
# CHUNK_HOURS (table1: no run starts after this many hours, default 2), JOBS (parallel runs, default 2),
# ITERATIONS (table1, default 40). Every run is resumable; rerun the same command to continue.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
BIDSIM=${2:-build/tools/bidsim}
T1_SEEDS=${T1_SEEDS:-"1 2 3 4 5 6 7 8 9 10"}
EPSILONS=${EPSILONS:-"0 0.04 0.08 0.12 0.16"}
JOBS=${JOBS:-2}
ITERATIONS=${ITERATIONS:-40}
OUT=results/learning
export OMP_WAIT_POLICY=passive
mkdir -p "$OUT"

# Each run on one thread, checkpointed every 5 iterations so an interrupted one resumes (tools/experiment_runs.sh).
RUN_FLAGS="--threads 1 --quiet --checkpoint-every 5"
# shellcheck source=tools/experiment_runs.sh
source tools/experiment_runs.sh

# Table-1 analogue (issue 13): 10 seeds per row, rows independent, cooperative, and bpg_zero and bpg at
# each ε of EPSILONS. Seed-major order, so an interrupted sweep has whole seeds of every row.
# CHUNK_HOURS (default 2) bounds one invocation; rerun the same command until it reports nothing left.
# Within a seed, bpg_zero then bpg, each over ascending ε: a run at ε that had λ̄ = 0 in every iteration is
# the same run as bpg and bpg_zero at every larger ε, and those are recorded as such (same_run.json,
# tools/table1_same_run.py), not rerun. Several invocations may share the sweep (one per core).
table1() {
  # The evaluation (docs/exploitability.md) at a cost the 2-core machine affords for 120 runs: at most 60
  # best-response steps (held-out check every 10, patience 3), 2 training / 4 selection / 8 report envs per agent.
  local br="--set learning.best_response.steps=60 --set learning.best_response.envs_per_agent=2"
  br="$br --set learning.best_response.selection_envs_per_agent=4 --set learning.best_response.eval_envs_per_agent=8"
  local common="train scenarios/bpg-100.yaml --iterations $ITERATIONS $br"
  DEADLINE=${DEADLINE:-$(( $(date +%s) + ${CHUNK_HOURS:-2} * 3600 ))}
  export DEADLINE
  for seed in $T1_SEEDS; do
    for algo in independent cooperative; do echo "t1-$algo-s$seed $common --algo $algo --seed $seed"; done
    for algo in bpg_zero bpg; do
      for eps in $EPSILONS; do echo "t1-$algo-e$eps-s$seed $common --algo $algo --epsilon $eps --seed $seed"; done
    done
  done | RUN_UNLESS="/usr/bin/python3 tools/table1_same_run.py" run_all
  local left=0
  for seed in $T1_SEEDS; do
    for run in independent cooperative $(for e in $EPSILONS; do echo bpg_zero-e$e bpg-e$e; done); do
      [ -f "$OUT/t1-$run-s$seed/summary.json" ] || [ -f "$OUT/t1-$run-s$seed/same_run.json" ] || left=$((left + 1))
    done
  done
  echo "table1: $left runs left (rerun: $0 table1)"
}

table3() { tools/exploitability_experiments.sh table3 "$BIDSIM"; }  # Table 3 lives there (docs/exploitability.md)

timing() {
  # 3 iterations each, no evaluation; the rollout batch (32 envs, dual batch capped at 256) is fixed.
  for n in 10 100 1000; do
    echo "timing-n$n train scenarios/bpg-100.yaml --set agents.count=$n --iterations 3 --seed 1" \
         "--set learning.best_response.steps=0 --set learning.best_response.max_agents=10"
  done | JOBS=1 run_all
}

report() { /usr/bin/python3 tools/learning_report.py "$OUT"; }

case "$what" in
  table1) table1 ;;
  table3) table3 ;;
  timing) timing ;;
  report) report ;;
  all) table1; table3; timing; report ;;
  *) echo "usage: $0 [table1|table3|timing|report|all] [BIDSIM]" >&2; exit 2 ;;
esac
