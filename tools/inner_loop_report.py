#!/usr/bin/env python3
"""The inner-loop study's table (tools/inner_loop_study.sh): per (x* steps, paired envs per agent), mean ± std
over seeds of the per-run means over iterations of R(x*) − R(θ) (unified_gain_mean), the standard error of
λ_i (lambda_se_mean), their ratio, the share of iterations with λ̄ > 0, the final social welfare, the
environments one iteration simulates and the seconds per iteration. Writes DIR/inner-loops.md.
usage: inner_loop_report.py DIR"""
import csv, json, math, os, re, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_common import bpg_environments_per_iteration, mean_std  # noqa: E402

out = sys.argv[1]
runs = {}
for d in sorted(os.listdir(out)):
    m = re.fullmatch(r"x(\d+)-d(\d+)-s(\d+)", d)
    if m and os.path.isfile(os.path.join(out, d, "summary.json")):
        runs.setdefault((int(m.group(1)), int(m.group(2))), []).append(d)
if not runs:
    sys.exit(f"inner_loop_report: no finished runs under {out}")


def per_run(d):
    rows = list(csv.DictReader(open(os.path.join(out, d, "train.csv"))))
    gain = statistics.mean(float(r["unified_gain_mean"]) for r in rows)
    se = statistics.mean(float(r["lambda_se_mean"]) for r in rows)
    binding = sum(float(r["lambda_bar"]) > 0 for r in rows) / len(rows)
    seconds = statistics.mean(float(r["seconds"]) for r in rows[1:])
    welfare = json.load(open(os.path.join(out, d, "summary.json")))["social_welfare"]
    return gain, se, binding, seconds, welfare, tuple(r["social_welfare"] for r in rows)


E, N, T = 32, 10, 12  # scenarios/bpg-10.yaml: envs, agents, steps
DUAL_MAX_ENVS = 256  # learning.dual_max_envs (default)
lines = ["| x* steps | paired envs per agent | seeds | R(x*) − R(θ) per measured agent | standard error of λ_i "
         "| gain / standard error | iterations with λ̄ > 0 | final social welfare | environments per iteration "
         "| s per iteration (loaded machine) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for (steps, dual), ds in sorted(runs.items()):
    stats = [per_run(d) for d in ds]
    fingerprints = [s[5] for s in stats]
    if len(set(fingerprints)) != len(fingerprints):
        sys.exit(f"inner_loop_report: seeds of x{steps}-d{dual} are the same run bit for bit: {ds}")
    gain, se, binding, seconds, welfare = ([s[i] for s in stats] for i in range(5))
    ratio = [g / s if s > 0 else math.inf for g, s in zip(gain, se)]
    # An upper bound: the L_s / L*_w batches are counted as if the constraint bound in every iteration.
    envs = bpg_environments_per_iteration(E, N, steps, dual, DUAL_MAX_ENVS, binding=True)
    lines.append(f"| {steps} | {dual} | {len(ds)} | {mean_std(gain, 1)} | {mean_std(se, 1)} | {mean_std(ratio, 2)} "
                 f"| {100 * statistics.mean(binding):.0f}% | {mean_std(welfare, 1)} | ≤ {envs} | {mean_std(seconds, 3)} |")
open(os.path.join(out, "inner-loops.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))

# --- x*'s step size: R(x*) − R(θ) over thirds of a 150-iteration run ------------------------------------
lr_runs = {}
for d in sorted(os.listdir(out)):
    m = re.fullmatch(r"lr([0-9.]+)-s(\d+)", d)
    if m and os.path.isfile(os.path.join(out, d, "summary.json")):
        lr_runs.setdefault(m.group(1), []).append(d)
if lr_runs:
    lr_lines = ["| x* step size | seeds | R(x*) − R(θ), iterations 1–50 | 51–100 | 101–150 | iterations with R(x*) < R(θ) "
                "| iterations with λ̄ > 0 | final social welfare |", "|---|---|---|---|---|---|---|---|"]
    for lr in sorted(lr_runs, key=float, reverse=True):
        thirds, below, binding, welfare = [[], [], []], [], [], []
        for d in lr_runs[lr]:
            rows = list(csv.DictReader(open(os.path.join(out, d, "train.csv"))))
            g = [float(r["unified_gain_mean"]) for r in rows]
            for k in range(3):
                thirds[k].append(statistics.mean(g[50 * k:50 * (k + 1)]))
            below.append(sum(x < 0 for x in g) / len(g))
            binding.append(sum(float(r["lambda_bar"]) > 0 for r in rows) / len(rows))
            welfare.append(float(rows[-1]["social_welfare"]))
        lr_lines.append(f"| {lr} | {len(lr_runs[lr])} | {mean_std(thirds[0], 1)} | {mean_std(thirds[1], 1)} | {mean_std(thirds[2], 1)} "
                        f"| {100 * statistics.mean(below):.0f}% | {100 * statistics.mean(binding):.0f}% | {mean_std(welfare, 1)} |")
    open(os.path.join(out, "x-step-size.md"), "w").write("\n".join(lr_lines) + "\n")
    print("\n" + "\n".join(lr_lines))
