#!/usr/bin/env bash
# Small, rerunnable learning experiments (CPU): the four algorithms on scenarios/bpg-10.yaml at one ε,
# and the BPG iteration time against N. Writes results/learning/*/summary.json, train.csv and table.md.
# Usage: tools/learning_experiments.sh [BIDSIM] [ITERATIONS] [SEEDS]
set -euo pipefail
BIDSIM=${1:-build/tools/bidsim}
ITERATIONS=${2:-60}
SEEDS=${3:-"1"}
OUT=results/learning
export OMP_WAIT_POLICY=passive
mkdir -p "$OUT"
for seed in $SEEDS; do
  for algo in independent cooperative bpg_zero bpg; do
    "$BIDSIM" train scenarios/bpg-10.yaml --algo "$algo" --epsilon 0.08 --iterations "$ITERATIONS" --seed "$seed" \
      --out "$OUT/bpg10-$algo-seed$seed" --quiet
  done
done
# Iteration time vs N: 3 BPG iterations each, no evaluation.
for n in 10 100; do  # N = 1000 runs, but its dual batch (N envs) takes minutes per iteration on 2 cores
  "$BIDSIM" train scenarios/bpg-100.yaml --set agents.count=$n --iterations 3 --seed 1 \
    --set learning.best_response.steps=0 --set learning.best_response.max_agents=10 \
    --out "$OUT/timing-n$n" --quiet
done
python3 - "$OUT" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
rows = ["| run | social welfare | revenue | max exploitability (eq. 15) | complies (ε=0.08) | train s |", "|---|---|---|---|---|---|"]
for d in sorted(os.listdir(out)):
    p = os.path.join(out, d, "summary.json")
    if d.startswith("bpg10-") and os.path.isfile(p):
        s = json.load(open(p))
        rows.append(f"| {d} | {s['social_welfare']:.1f} | {s['revenue']:.1f} | {s['max_exploitability']:.3f} | {s['complies']} | {s['train_seconds']:.1f} |")
rows += ["", "| N agents | envs | mean BPG iteration s (iterations 2-3) |", "|---|---|---|"]
for n in (10, 100):
    p = os.path.join(out, f"timing-n{n}", "train.csv")
    if os.path.isfile(p):
        t = [float(r["seconds"]) for r in csv.DictReader(open(p))][1:]
        rows.append(f"| {n} | 32 | {sum(t)/len(t):.3f} |")
open(os.path.join(out, "table.md"), "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
