#!/usr/bin/env python3
"""Table-3 analogue (BPG paper §6.2) from the runs of `tools/learning_experiments.sh table3`: per agent,
R(θ)/R* beside R(x*)/R*, both measured the same way (all stochastic, or all deterministic), with the
evaluation's 95% intervals; one table per seed and a summary over seeds. Plain python3.
Writes DIR/table3.md and prints it.
usage: table3_report.py DIR"""
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
runs = []
for d in sorted(os.listdir(out)):
    m = re.fullmatch(r"t3-bpg10-s(\d+)", d)
    p = os.path.join(out, d, "summary.json")
    if m and os.path.isfile(p):
        with open(p) as f:
            runs.append((int(m.group(1)), d, json.load(f)))
runs.sort()


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def interval(lo, hi):
    return "" if lo is None or hi is None else f" [{100 * lo:.0f}, {100 * hi:.0f}]"


lines = []
summary = {"stochastic": [], "deterministic": []}
for seed, d, s in runs:
    ex = s["max_exploitability"], s["max_exploitability_low"], s["max_exploitability_high"]
    br = s["best_response"]
    lines.append(f"### seed {seed} (`{d}`)\n")
    lines.append(f"Social welfare {s['social_welfare']:.1f}; max exploitability {ex[0]:.4f} "
                 f"[{ex[1]:.4f}, {ex[2]:.4f}] (ε = {s.get('epsilon', '–')}, complies: {s.get('complies', '–')}); "
                 f"best responses stopped after {br['steps']} of at most {br['max_steps']} steps; "
                 f"R* chosen on {br['selection_envs_per_agent']} and reported on {br['eval_envs_per_agent']} "
                 f"independent envs per agent.\n")
    agents = s["evaluated_agents"]
    for mode in ("stochastic", "deterministic"):
        t = s["table3"][mode]
        lines.append(f"**{mode}** ({'every policy acts with its exploration noise, as trained' if mode == 'stochastic' else 'every policy acts with its mean'})\n")
        lines.append("| agent | R(θ) | R(x*) | R* | R* from | R(θ)/R* [95%] | R(x*)/R* [95%] |")
        lines.append("|---|---|---|---|---|---|---|")
        for k, a in enumerate(agents):
            lines.append(f"| {a} | {t['r_policy'][k]:.1f} | {t['r_unified'][k]:.1f} | {t['r_star'][k]:.1f} | "
                         f"{t['r_star_candidate'][k]} | {pct(t['policy_ratio'][k])}{interval(t['policy_ratio_low'][k], t['policy_ratio_high'][k])} | "
                         f"{pct(t['unified_ratio'][k])}{interval(t['unified_ratio_low'][k], t['unified_ratio_high'][k])} |")
            summary[mode].append((t["policy_ratio"][k], t["unified_ratio"][k], t["unified_ratio_high"][k]))
        lines.append("")

if runs:
    head = ["## Over all seeds and agents\n",
            "| mode | agent-runs | R(θ)/R* mean | R(x*)/R* mean | R(θ)/R* ≥ 85% | R(x*)/R* ≥ 85% | R(x*)/R* interval entirely below 85% |",
            "|---|---|---|---|---|---|---|"]
    for mode, rows in summary.items():
        n = len(rows)
        head.append(f"| {mode} | {n} | {100 * statistics.mean(r[0] for r in rows):.1f}% | "
                    f"{100 * statistics.mean(r[1] for r in rows):.1f}% | {sum(r[0] >= 0.85 for r in rows)}/{n} | "
                    f"{sum(r[1] >= 0.85 for r in rows)}/{n} | {sum(r[2] < 0.85 for r in rows)}/{n} |")
    lines = head + [""] + lines
text = "\n".join(lines) + "\n"
with open(os.path.join(out, "table3.md"), "w") as f:
    f.write(text)
print(text)
