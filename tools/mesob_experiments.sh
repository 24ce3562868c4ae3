#!/usr/bin/env bash
# Reruns every mean-field experiment of docs/mesob-solvers.md into results/mesob/: on the paper game at
# horizon 0 and 9, the paper's (λ1, λ2) grid (penalty form), the same grid with multipliers, and the
# ε-constraint frontier, drawn against the reference frontier (Fig. 1-2 analogues); the λ1 = λ2 = 0.5
# policy with the engine bridge (Fig. 3); every solver's convergence; the heuristic vs the equilibrium
# solvers on the large game (Appendix B). REFERENCE=1 also recomputes the scipy reference frontiers
# (~2 and ~14 minutes on 2 loaded cores); otherwise the committed ones are drawn.
#   tools/mesob_experiments.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
bidsim="${1:-build}/tools/bidsim"
out=results/mesob
mkdir -p "$out"
export OMP_WAIT_POLICY=passive
paper=scenarios/mesob-paper.yaml

if [ "${REFERENCE:-0}" = 1 ]; then
  /usr/bin/python3 tools/mesob_reference_frontier.py --horizon 0 --levels 21 --starts 12 --seed 1 --force --out "$out/reference-h0.csv"
  /usr/bin/python3 tools/mesob_reference_frontier.py --horizon 9 --levels 11 --starts 6 --seed 1 --force --out "$out/reference-h9.csv"
fi

for h in 0 9; do
  "$bidsim" mesob-pareto "$paper" --set game.horizon=$h --force --out "$out/pareto-h$h-paper" > "$out/pareto-h$h-paper.txt"
  "$bidsim" mesob-pareto "$paper" --set game.horizon=$h --multiplier-every 100 --rho2 10 --iterations 50000 \
    --force --out "$out/pareto-h$h-multipliers" > "$out/pareto-h$h-multipliers.txt"
  # t = 0..9 needs the finer budget grid to stay within 1.5x of the reference (docs/mesob-solvers.md).
  budgets=32
  [ "$h" = 9 ] && budgets=64
  "$bidsim" mesob-pareto "$paper" --set game.horizon=$h --method frontier --budgets $budgets --force --out "$out/frontier-h$h" \
    > "$out/frontier-h$h.txt"
  /usr/bin/python3 tools/bidsim_plot.py front "$out/front-h$h.png" "mesob-paper, t = 0..$h" \
    --reference "$out/reference-h$h.csv" "λ grid, ρ2 0.1 penalty (paper)=$out/pareto-h$h-paper" \
    "λ grid, multipliers=$out/pareto-h$h-multipliers" "ε-constraint frontier=$out/frontier-h$h"
done

# Fig. 3: the λ1 = λ2 = 0.5 policy (paper weights, penalty form) and the same run in the N-agent engine.
"$bidsim" mesob "$paper" --lambda1 0.5 --lambda2 0.5 --bridge --force --out "$out/paper-lambda-0.5" > "$out/paper-lambda-0.5.txt"
/usr/bin/python3 tools/bidsim_plot.py policy "$out/policy-lambda-0.5.png" \
  "MESOB-OMO λ1 = λ2 = 0.5 (ρ1 1, ρ2 0.1), t = 0" "$out/paper-lambda-0.5"

# Every solver on the paper's game: the optimality measure and exploitability per iteration.
for solver in mesob-omo mf-omo mfc omd fp heuristic; do
  extra=()
  "$bidsim" mesob "$paper" --solver "$solver" "${extra[@]}" --force --out "$out/solver-$solver" > "$out/solver-$solver.txt"
done
"$bidsim" mesob "$paper" --solver mesob-omo --optimizer adam --iterations 5000 --tol 0 --force --out "$out/solver-mesob-omo-adam" \
  > "$out/solver-mesob-omo-adam.txt"
# OMD at the old fixed step and FP with the classic 1/(k+1) average, next to their line-searched defaults.
"$bidsim" mesob "$paper" --solver omd --optimizer gradient --lr 0.1 --iterations 5000 --force --out "$out/solver-omd-fixed" \
  > "$out/solver-omd-fixed.txt"
"$bidsim" mesob "$paper" --solver fp --optimizer gradient --force --out "$out/solver-fp-classic" > "$out/solver-fp-classic.txt"
/usr/bin/python3 tools/bidsim_plot.py histories "$out/solvers.png" "mesob-paper (t = 0..9): convergence per solver" \
  "$out"/solver-{mesob-omo,mesob-omo-adam,mf-omo,mfc,omd,omd-fixed,fp,fp-classic}

# Appendix B: the agnostic heuristic vs mean-field equilibrium solvers on the large game.
for solver in heuristic mf-omo omd fp; do
  extra=()
  [ "$solver" = mf-omo ] && extra=(--iterations 5000)  # ~10 ms per iteration here; does not converge
  "$bidsim" mesob scenarios/mesob-large.yaml --solver "$solver" "${extra[@]}" --force --out "$out/large-$solver" > "$out/large-$solver.txt"
done
echo "results in $out"
