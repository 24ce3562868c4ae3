#!/usr/bin/env python3
"""Tables and a plot from the runs of tools/learning_experiments.sh. Writes DIR/table1.md,
DIR/table1-comparisons.md (BPG against bpg_zero, paired by seed, and against the baselines), DIR/table1-constraint.md
(what the constraint's x* saw at the end of training against the evaluated exploitability), DIR/table1-cost.md
(the runs' own seconds by binary), DIR/timing.md
and DIR/table1.svg (matplotlib through tools/bidsim_plot.py: run it with /usr/bin/python3); prints the tables.
usage: learning_report.py DIR"""
import csv, json, math, os, re, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_common import bpg_environments_per_iteration, mean_std  # noqa: E402

out = sys.argv[1]


def same_run(name):
    """The finished run that `name` was recorded as the same run as (same_run.json, tools/table1_same_run.py)."""
    p = os.path.join(out, name, "same_run.json")
    return json.load(open(p))["same_run_as"] if os.path.isfile(p) else None


def load(name):
    """A run's summary.json; for a run recorded as another's twin, the twin's with this run's algorithm and ε,
    and `complies` decided at this ε from the shared interval."""
    twin = same_run(name)
    p = os.path.join(out, twin or name, "summary.json")
    if not os.path.isfile(p):
        return None
    summary = json.load(open(p))
    if twin:
        record = json.load(open(os.path.join(out, name, "same_run.json")))
        summary.update(algorithm=record["algorithm"], epsilon=record["epsilon"],
                       complies=summary["max_exploitability_high"] <= record["epsilon"])
    return summary


def train_rows(name):
    p = os.path.join(out, same_run(name) or name, "train.csv")
    return list(csv.DictReader(open(p))) if os.path.isfile(p) else []


# --- Table 1 ----------------------------------------------------------------------------------------
def welch(a, b):
    """Welch's t and its two-sided p-value (scipy when present, else the normal approximation)."""
    if len(a) < 2 or len(b) < 2:
        return None, None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return (0.0, 1.0) if statistics.mean(a) == statistics.mean(b) else (math.inf, 0.0)
    t = (statistics.mean(a) - statistics.mean(b)) / math.sqrt(va + vb)
    try:
        from scipy import stats
        return t, float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    except ImportError:
        return t, math.erfc(abs(t) / math.sqrt(2))


def fingerprint(name):
    """What makes two runs the same run: their per-iteration welfare and the final evaluation."""
    rows = train_rows(name)
    r = load(name)
    return (tuple(row["social_welfare"] for row in rows), r["social_welfare"], r["max_exploitability"])


groups = {}  # (algo, eps or None) -> [run names]
for d in sorted(os.listdir(out)):
    m = re.fullmatch(r"t1-(independent|cooperative|bpg|bpg_zero)(?:-e([0-9.]+))?-s(\d+)", d)
    if m and load(d):
        groups.setdefault((m.group(1), m.group(2)), []).append(d)
order = {"independent": 0, "cooperative": 1, "bpg_zero": 2, "bpg": 3}
keys = sorted(groups, key=lambda k: (order[k[0]], -float(k[1] or 0)))
# Distinct seeds must be distinct runs: a row whose seeds repeat each other is an error, not a result.
for k in keys:
    prints = [fingerprint(d) for d in groups[k]]
    if len(set(prints)) != len(prints):
        sys.exit(f"table1: row {k} has seeds that are the same run bit for bit: {groups[k]}")
# The same seed in two rows being the same run means the rows did not differ (λ̄ = 0 throughout): say so.
def runs_by_seed(k):
    """Row k's run names by seed (the -sN suffix)."""
    return {int(d.rsplit("-s", 1)[1]): d for d in groups.get(k, [])}


same_as = {}
for i, k in enumerate(keys):
    for k2 in keys[:i]:
        seeds, seeds2 = runs_by_seed(k), runs_by_seed(k2)
        common = set(seeds) & set(seeds2)
        if common and all(fingerprint(seeds[s]) == fingerprint(seeds2[s]) for s in common):
            same_as[k] = k2
            break
label = lambda k: f"{k[0]}" + (f" ε={k[1]}" if k[1] is not None else "")
t1 = ["| algorithm | ε | seeds | social welfare | max exploitability (eq. 15) | its upper bound | compliance rate | revenue "
      "| iterations with λ̄ > 0 | Welch vs row above (welfare; exploitability) |",
      "|---|---|---|---|---|---|---|---|---|---|"]
points = []
previous = None
for k in keys:
    runs = [load(d) for d in groups[k]]
    sw = [r["social_welfare"] for r in runs]
    ex = [r["max_exploitability"] for r in runs]
    ex_high = [r.get("max_exploitability_high", r["max_exploitability"]) for r in runs]
    rev = [r["revenue"] for r in runs]
    algo, eps = k
    if eps is None:
        compliance, binding = "/", "/"
    else:
        # Complies only when the upper confidence bound is within ε (summary.json's `complies`).
        compliance = f"{100 * sum(r.get('complies', h <= float(eps)) for r, h in zip(runs, ex_high)) / len(runs):.0f}%"
        it = [row for d in groups[k] for row in train_rows(d)]
        binding = f"{100 * sum(float(r['lambda_bar']) > 0 for r in it) / max(len(it), 1):.0f}%"
    test = "–"
    if previous is not None:
        t_sw, p_sw = welch(sw, previous[0])
        t_ex, p_ex = welch(ex, previous[1])
        if t_sw is not None:
            test = f"t={t_sw:.2f} p={p_sw:.3f}; t={t_ex:.2f} p={p_ex:.3f}"
    if k in same_as:
        test += f" (same runs as {label(same_as[k])})"
    recorded = sum(same_run(d) is not None for d in groups[k])
    seeds = f"{len(runs)}" + (f" ({recorded} not rerun: same run as at a smaller ε, λ̄ = 0 throughout)" if recorded else "")
    t1.append(f"| {algo} | {eps or '/'} | {seeds} | {mean_std(sw, 1)} | {mean_std(ex, 4)} | {mean_std(ex_high, 4)} | {compliance} "
              f"| {mean_std(rev, 1)} | {binding} | {test} |")
    points.append((algo, eps, statistics.mean(ex), statistics.mean(sw)))
    previous = (sw, ex)
open(os.path.join(out, "table1.md"), "w").write("\n".join(t1) + "\n")
print("\n".join(t1))


# --- the paper's comparisons (§6.1 and Q3), each with its test ---------------------------------------
def paired(a, b):
    """Paired t on per-seed differences a - b and its two-sided p (scipy when present, else the normal
    approximation); p = 1 when every pair is the same run."""
    d = [x - y for x, y in zip(a, b)]
    if len(d) < 2:
        return None, None
    if all(x == 0 for x in d):
        return 0.0, 1.0
    sd = statistics.stdev(d)
    if sd == 0:
        return math.inf, 0.0
    t = statistics.mean(d) / (sd / math.sqrt(len(d)))
    try:
        from scipy import stats
        return t, float(stats.ttest_rel(a, b).pvalue)
    except ImportError:
        return t, math.erfc(abs(t) / math.sqrt(2))


def by_seed(k):
    return {seed: load(d) for seed, d in runs_by_seed(k).items()}


def comparison(a, b, pair):
    """One row: a against b on welfare and max exploitability. pair: same seeds are paired (the two runs
    of a seed share every random stream and differ only in the algorithm), else Welch's t."""
    ra, rb = by_seed(a), by_seed(b)
    if pair:
        seeds = sorted(set(ra) & set(rb))
        ra, rb = [ra[s] for s in seeds], [rb[s] for s in seeds]
    else:
        ra, rb = list(ra.values()), list(rb.values())
    if len(ra) < 2 or len(rb) < 2:
        return None
    cells = []
    for field, digits in (("social_welfare", 1), ("max_exploitability", 4)):
        xa, xb = [r[field] for r in ra], [r[field] for r in rb]
        t, p = (paired if pair else welch)(xa, xb)
        diff = [x - y for x, y in zip(xa, xb)] if pair else None
        delta = mean_std(diff, digits, signed=True) if pair else f"{statistics.mean(xa) - statistics.mean(xb):+.{digits}f}"
        cells.append(f"{delta} | t={t:.2f} p={p:.3f}")
    seeds = f"{len(ra)} paired" if pair else f"{len(ra)} vs {len(rb)}"
    return f"| {label(a)} − {label(b)} | {seeds} | {cells[0]} | {cells[1]} |"


cmp_rows = ["| comparison | seeds | Δ social welfare | test | Δ max exploitability | test |", "|---|---|---|---|---|---|"]
for eps in sorted({k[1] for k in keys if k[1] is not None}, key=float, reverse=True):
    for a, b, pair in ((("bpg", eps), ("bpg_zero", eps), True),          # Q3: is ν̄'s gradient needed?
                       (("bpg", eps), ("independent", None), False),     # §6.1: against the baselines
                       (("bpg", eps), ("cooperative", None), False)):
        row = comparison(a, b, pair) if a in groups and b in groups else None
        if row:
            cmp_rows.append(row)
open(os.path.join(out, "table1-comparisons.md"), "w").write("\n".join(cmp_rows) + "\n")
print("\n" + "\n".join(cmp_rows))

# scenarios/bpg-100.yaml with the learning defaults: envs, steps, x* steps, dual batch cap and per-agent envs.
E, STEPS, UNIFIED_STEPS, DUAL_CAP, DUAL_PER = 32, 12, 2, 256, 4


# --- the constraint's own view against the evaluation: why λ̄ rarely binds --------------------------------
# (13) gives agent i a positive λ_i when x*'s gain R(x*) − R(θ), on paired draws, exceeds ε·SW. What the
# constraint saw at the end of training is x*'s largest gain over the last refresh of every agent (the
# dual batch measures min(N, cap / per-agent envs) agents an iteration: ⌈N / that⌉ iterations), over that
# iteration's SW; the report's max exploitability (eq. 15) is the evaluation's best responses, trained
# per agent. Paired by run: does the constraint see the gain the evaluation reports?
def constraint_view(name, agents):
    """(x*'s largest gain / SW over the last refresh, iterations where it exceeded ε share) or None."""
    rows = train_rows(name)
    if not rows or "unified_gain_max" not in rows[0]:
        return None
    refresh = math.ceil(agents / min(agents, max(1, DUAL_CAP // DUAL_PER)))  # iterations to measure every agent
    seen = [float(r["unified_gain_max"]) / float(r["social_welfare"]) for r in rows]
    return max(seen[-refresh:]), seen


view_rows = ["| algorithm | ε | runs | max exploitability, evaluated (eq. 15) | x*'s largest gain / SW, last refresh "
             "| x* / evaluated per run: mean (min–max) | paired t (x* − evaluated) | runs where x* sees > ε at the end "
             "| iterations where x* sees > ε |",
             "|---|---|---|---|---|---|---|---|---|"]
for k in keys:
    algo, eps = k
    if eps is None:
        continue
    evaluated, seen_end, ratios, above_end, above_it, iterations = [], [], [], 0, 0, 0
    for d in groups[k]:
        r = load(d)
        view = constraint_view(d, int(r.get("agents", 100)))
        if view is None:
            continue
        end, seen = view
        evaluated.append(r["max_exploitability"])
        seen_end.append(end)
        if r["max_exploitability"] > 0:
            ratios.append(end / r["max_exploitability"])
        above_end += end > float(eps)
        above_it += sum(x > float(eps) for x in seen)
        iterations += len(seen)
    if len(evaluated) < 2:
        continue
    t, p = paired(seen_end, evaluated)
    ratio = f"{statistics.mean(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "–"
    view_rows.append(f"| {algo} | {eps} | {len(evaluated)} | {mean_std(evaluated, 4)} | {mean_std(seen_end, 4)} | {ratio} "
                     f"| t={t:.2f} p={p:.3f} | {above_end} of {len(evaluated)} | {100 * above_it / iterations:.0f}% |")
open(os.path.join(out, "table1-constraint.md"), "w").write("\n".join(view_rows) + "\n")
print("\n" + "\n".join(view_rows))

# --- what the sweep cost: every finished run's own seconds (one thread each), by binary ------------------
def binary_of(name):
    """The commit of the binary a run started with (command.txt's '# commit X'), 'unrecorded' before it was written."""
    p = os.path.join(out, name, "command.txt")
    m = re.search(r"# commit (\w+)", open(p).read()) if os.path.isfile(p) else None
    return m.group(1) if m else "unrecorded"


cost = {}  # (binary, constrained) -> [seconds]
for name in sorted(d for k in keys for d in groups[k] if same_run(d) is None):
    r = load(name)
    cost.setdefault((binary_of(name), r["algorithm"] in ("bpg", "bpg_zero")), []).append(
        r.get("train_seconds", 0.0) + r.get("evaluation_seconds", 0.0))
cost_rows = ["| binary | runs | bpg / bpg_zero: s per run | independent / cooperative: s per run | core-hours |",
             "|---|---|---|---|---|"]
for binary in sorted({b for b, _ in cost}):
    constrained, baseline = cost.get((binary, True), []), cost.get((binary, False), [])
    cost_rows.append(f"| {binary} | {len(constrained) + len(baseline)} | {mean_std(constrained, 0)} | {mean_std(baseline, 0)} "
                     f"| {sum(constrained + baseline) / 3600:.2f} |")
total = sum(sum(v) for v in cost.values())
recorded_twins = sum(same_run(d) is not None for k in keys for d in groups[k])
cost_rows.append(f"| all | {sum(len(v) for v in cost.values())} (+ {recorded_twins} recorded as the same run) | | "
                 f"| {total / 3600:.2f} ({total / 7200:.2f} h with two jobs) |")
open(os.path.join(out, "table1-cost.md"), "w").write("\n".join(cost_rows) + "\n")
print("\n" + "\n".join(cost_rows))

# --- the plot: social welfare against max exploitability, one marker per (algorithm, ε) -------------
# Drawn by tools/bidsim_plot.py (matplotlib, the project's one plotting path); skipped with a note when
# this Python has no matplotlib (the tables above do not need it).
if points:
    import bidsim_plot
    if bidsim_plot.matplotlib is None:
        print("table1.svg not drawn: this Python has no matplotlib (run the report with /usr/bin/python3)")
    else:
        by_algo = {}
        for algo, eps, x, y in points:
            by_algo.setdefault(algo, []).append((x, y))
        bidsim_plot.scatter_by_group(os.path.join(out, "table1.svg"),
                                     "bpg-100: social welfare vs max exploitability (means over seeds)",
                                     "max exploitability / social welfare (eq. 15)", "social welfare", by_algo,
                                     {(x, y): f"ε={eps}" for _, eps, x, y in points if eps is not None})

# Table 3: tools/table3_report.py (runs of tools/exploitability_experiments.sh table3).

# --- iteration time against N -----------------------------------------------------------------------
tm = ["| N agents | s per BPG iteration (iterations 2-3) | environments per iteration | agent-steps per iteration | ns per agent-step |",
      "|---|---|---|---|---|"]
for n in (10, 100, 1000):
    rows = train_rows(f"timing-n{n}")[1:]
    if rows:
        t = statistics.mean(float(r["seconds"]) for r in rows)
        envs = statistics.mean(bpg_environments_per_iteration(E, n, UNIFIED_STEPS, DUAL_PER, DUAL_CAP,
                                                              float(r["lambda_bar"]) > 0) for r in rows)
        agent_steps = envs * n * STEPS
        tm.append(f"| {n} | {t:.3f} | {envs:.0f} | {agent_steps / 1e6:.2f} M | {1e9 * t / agent_steps:.0f} |")
open(os.path.join(out, "timing.md"), "w").write("\n".join(tm) + "\n")
print("\n" + "\n".join(tm))
