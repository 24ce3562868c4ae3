#!/usr/bin/env bash
# Reruns every mean-field experiment shown in README ("Mean field") into results/mesob/:
# the Pareto sweeps (Fig. 1-2 analogues), the λ1 = λ2 = 0.5 policy with the engine bridge (Fig. 3),
# exploitability vs iteration for every solver, and the heuristic vs the equilibrium (Appendix B).
#   tools/mesob_experiments.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
bidsim="${1:-build}/tools/bidsim"
out=results/mesob
mkdir -p "$out"
export OMP_WAIT_POLICY=passive

"$bidsim" mesob-pareto scenarios/mesob-paper.yaml --out "$out/pareto-paper" > "$out/pareto-paper.txt"
"$bidsim" mesob-pareto scenarios/mesob-paper.yaml --rho2 1 --out "$out/pareto-paper-rho2-1" > "$out/pareto-paper-rho2-1.txt"
"$bidsim" mesob scenarios/mesob-paper.yaml --lambda1 0.5 --lambda2 0.5 --bridge --out "$out/paper-lambda-0.5" > "$out/paper-lambda-0.5.txt"
"$bidsim" mesob scenarios/mesob-paper.yaml --lambda1 0.5 --lambda2 0.5 --rho2 1 --out "$out/paper-lambda-0.5-rho2-1" > "$out/paper-lambda-0.5-rho2-1.txt"

# Every solver on the paper's game, 1500 iterations each (OMD with step 0.1).
for solver in mesob-omo mf-omo mfc omd fp heuristic; do
  extra=()
  [ "$solver" = omd ] && extra=(--lr 0.1)
  "$bidsim" mesob scenarios/mesob-paper.yaml --solver "$solver" "${extra[@]}" --out "$out/solver-$solver" > "$out/solver-$solver.txt"
done
python3 tools/plot_histories.py "$out/solvers.svg" "exploitability vs iteration, mesob-paper" \
  "$out"/solver-{mesob-omo,mf-omo,mfc,omd,fp}/history.csv

# Appendix B: the agnostic heuristic vs mean-field equilibrium solvers on the large game.
for solver in heuristic mf-omo omd fp; do
  extra=()
  [ "$solver" = omd ] && extra=(--lr 0.1)
  "$bidsim" mesob scenarios/mesob-large.yaml --solver "$solver" "${extra[@]}" --out "$out/large-$solver" > "$out/large-$solver.txt"
done
echo "results in $out"
