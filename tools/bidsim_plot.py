#!/usr/bin/python3
"""bidsim's one plotting path (matplotlib; Debian's python3-matplotlib under /usr/bin/python3).

  bidsim_plot.py RUN_DIR [--format png|svg] [--out DIR]     (what `bidsim plot RUN_DIR` runs)
      every figure the run directory has data for, written beside the data (or in --out):
        train.png           training curves of `bidsim train` (train.csv): welfare and revenue, λ̄ and ξ,
                            the gradient-term norms (log axis), the policy's log std
        pacing.png          pacing over the episode of `bidsim simulate` (steps.csv): spend per step and
                            cumulated, agents still active, mean bid multiplier, wins and value
        exploitability.png  per-agent exploitability with 95% intervals (`train` / `evaluate` summary.json)
        policy.png          the mean-field policy π_t(bid | state) as heatmaps (`bidsim mesob` summary.json)
        history.png         exploitability and optimality measure vs iteration (`bidsim mesob` history.csv)
        front.png           welfare vs exploitability and the welfare terms (`bidsim mesob-pareto` summary.json)
  bidsim_plot.py histories OUT TITLE RUN_DIR...          solvers' convergence, several `mesob` runs
  bidsim_plot.py front OUT TITLE [--reference REF.csv] LABEL=PARETO_DIR...
  bidsim_plot.py policy OUT TITLE RUN_DIR                π_0(bid | state) as grouped bars (Fig. 3 analogue)

Log axes carry ticks at whole powers of ten only, labelled 10^k, over limits widened to whole decades
(log_axis), so a narrow range never gets labels like 1e-0.3. Figures are written to a temporary name
and renamed. Bad input (no such directory, nothing to plot, no matplotlib) is one line on stderr and
exit status 2, as in `bidsim`.
"""
import csv
import json
import math
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter, NullLocator
except ImportError:  # the commands still run; only the figures need it
    matplotlib = None

FLOOR = 1e-9  # exploitability of an exact equilibrium is drawn here on log axes
COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#d62728", "#7f7f7f"]


class PlotError(Exception):
    """Bad input: reported as one line, exit status 2."""


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise PlotError(f"{path}: no data rows")
    return rows


def read_json(path):
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise PlotError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def column(rows, name, path=""):
    try:
        return [float(r[name]) for r in rows]
    except KeyError:
        raise PlotError(f"{path}: no column '{name}'") from None
    except (TypeError, ValueError):
        raise PlotError(f"{path}: column '{name}' holds a value that is not a number") from None


def log_axis(ax, axis, values, floor=1e-16):
    """A log10 axis over whole decades enclosing `values` (each floored at `floor`), major ticks at every
    power of ten (every k-th when there are many), labelled 10^k; minor ticks unlabelled."""
    positive = [max(v, floor) for v in values if v is not None and math.isfinite(v)] or [floor]
    lo = math.floor(math.log10(min(positive)))
    hi = math.ceil(math.log10(max(positive)))
    if hi == lo:
        hi += 1
    step = max(1, math.ceil((hi - lo) / 8))  # about eight labelled decades at most
    lo -= (lo % step) if step > 1 else 0
    hi = lo + step * math.ceil((hi - lo) / step)
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    (ax.set_xlim if axis == "x" else ax.set_ylim)(10.0 ** lo, 10.0 ** hi)
    a.set_major_locator(LogLocator(base=10.0 ** step, numticks=64))
    a.set_major_formatter(LogFormatterSciNotation(base=10.0))
    if step == 1:
        a.set_minor_locator(LogLocator(base=10.0, subs=tuple(range(2, 10)), numticks=64))
    else:
        a.set_minor_locator(NullLocator())
    a.set_minor_formatter(NullFormatter())


def save(fig, path, tight=True):
    """Writes `path` through a temporary name, so a killed run never leaves half a figure under it."""
    fmt = os.path.splitext(path)[1][1:] or "png"
    tmp = path + ".tmp"
    if tight:
        fig.tight_layout()
    fig.savefig(tmp, dpi=110, format=fmt)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def finish_panels(fig, axes, x_label, title, out):
    """The shared x label and grid of a panel figure, its title, and the file."""
    for ax in axes:
        ax.set_xlabel(x_label)
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(title)
    return save(fig, out)


# --- one run directory ----------------------------------------------------------------------------

def plot_train(run, out):
    """Training curves from train.csv (one row per iteration of `bidsim train`)."""
    path = os.path.join(run, "train.csv")
    rows = read_csv(path)
    it = column(rows, "iteration", path)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    has = lambda name: name in rows[0]  # older runs lack some columns: draw what is there
    a = axes[0][0]
    a.plot(it, column(rows, "social_welfare", path), label="social welfare", color=COLORS[0])
    if has("revenue"):
        a.plot(it, column(rows, "revenue", path), label="revenue", color=COLORS[1])
    a.set_ylabel("per episode, mean over environments")
    a.set_title("welfare and revenue", fontsize=10)
    a.legend(fontsize=8)
    b = axes[0][1]
    for name, label, color, style in (("lambda_bar", "λ̄ (dual, eq. 13)", COLORS[6], "-"),
                                      ("xi", "ξ floor (eq. 11)", COLORS[3], "--")):
        if has(name):
            b.plot(it, column(rows, name, path), label=label, color=color, ls=style)
    b.set_ylabel("normalized by social welfare")
    b.set_title("constraint: λ̄ and ξ", fontsize=10)
    if b.lines:
        b.legend(fontsize=8)
    c = axes[1][0]
    norms = [("norm_l1", "|L1|"), ("norm_ls", "|Ls|"), ("norm_lg", "|Lg'|"), ("norm_lw", "|Lw*|"), ("norm_step", "|step|")]
    shown = []
    for k, (name, label) in enumerate(norms):
        if has(name):
            ys = column(rows, name, path)
            shown += [y for y in ys if y > 0]
            c.plot(it, [y if y > 0 else math.nan for y in ys], label=label, color=COLORS[k])  # 0: a gap
    log_axis(c, "y", shown)
    c.set_ylabel("gradient norm (0 not drawn)")
    c.set_title("BPG terms (Table 4)", fontsize=10)
    if c.lines:
        c.legend(fontsize=8)
    d = axes[1][1]
    if has("policy_log_std"):
        d.plot(it, column(rows, "policy_log_std", path), color=COLORS[4])
    d.set_ylabel("log std of the policy")
    d.set_title("exploration", fontsize=10)
    return finish_panels(fig, (a, b, c, d), "iteration", f"bidsim train: {os.path.basename(os.path.normpath(run))}", out)


def plot_pacing(run, out):
    """Pacing over the episode from steps.csv (`bidsim simulate`, means over environments)."""
    path = os.path.join(run, "steps.csv")
    rows = read_csv(path)
    step = column(rows, "step", path)
    cost = column(rows, "cost", path)
    total = sum(cost)
    spent, cumulated = 0.0, []
    for c in cost:
        spent += c
        cumulated.append(spent / total if total > 0 else 0.0)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    a = axes[0][0]
    a.bar(step, cost, color=COLORS[0], label="spend per step")
    a.set_ylabel("spend per step (all agents)")
    a2 = a.twinx()
    a2.plot(step, cumulated, color=COLORS[6], marker=".", label="cumulated share")
    a2.plot([step[0] - 1, step[-1]], [0, 1], color="#999", ls=":", label="even pace")
    a2.set_ylim(0, 1.05)
    a2.set_ylabel("share of the episode's spend")
    a2.legend(fontsize=8, loc="upper left")
    a.set_title("spend over the episode", fontsize=10)
    b = axes[0][1]
    b.plot(step, column(rows, "active_agents", path), color=COLORS[1], marker=".")
    b.set_ylabel("agents above the budget floor")
    b.set_title("active agents", fontsize=10)
    c = axes[1][0]
    c.plot(step, column(rows, "mean_multiplier", path), color=COLORS[2], marker=".")
    c.set_ylabel("mean bid multiplier (active agents)")
    c.set_title("pacing multiplier", fontsize=10)
    d = axes[1][1]
    d.plot(step, column(rows, "value", path), color=COLORS[3], marker=".", label="value won")
    d.plot(step, column(rows, "wins", path), color=COLORS[4], marker=".", label="wins")
    d.set_title("value and wins per step", fontsize=10)
    d.legend(fontsize=8)
    return finish_panels(fig, (a, b, c, d), "step",
                         f"bidsim simulate: {os.path.basename(os.path.normpath(run))} (means over environments)", out)


def plot_exploitability(run, out):
    """Per-agent exploitability (best-response gain) with its 95% interval, from summary.json."""
    path = os.path.join(run, "summary.json")
    s = read_json(path)
    pa = s.get("per_agent", {})
    if "exploitability" not in pa:
        raise PlotError(f"{path}: no per_agent.exploitability (not a train / evaluate summary)")
    gain = pa["exploitability"]
    agents = s.get("evaluated_agents", list(range(len(gain))))
    low = pa.get("exploitability_low", gain)
    high = pa.get("exploitability_high", gain)
    fig, ax = plt.subplots(figsize=(max(6, min(16, 0.35 * len(gain) + 3)), 4))
    xs = list(range(len(gain)))
    err = [[max(0.0, g - l) for g, l in zip(gain, low)], [max(0.0, h - g) for g, h in zip(gain, high)]]
    ax.bar(xs, gain, color=COLORS[0], yerr=err, capsize=3, ecolor="#444", label="best-response gain [95%]")
    sw = s.get("social_welfare")
    if s.get("epsilon") is not None and sw:
        ax.axhline(s["epsilon"] * sw, color=COLORS[6], ls="--", label=f"ε × social welfare (ε = {s['epsilon']})")
    ax.set_xticks(xs)
    ax.set_xticklabels([str(a) for a in agents], fontsize=8 if len(xs) < 40 else 5)
    ax.set_xlabel("agent")
    ax.set_ylabel("exploitability (return gain per episode)")
    title = "per-agent exploitability"
    if "max_exploitability" in s:
        title += f": max {s['max_exploitability']:.4g} of social welfare (eq. 15)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out)


def plot_policy_heatmap(run, out):
    """The mean-field policy π_t(bid | state) of `bidsim mesob` as heatmaps: t = 0 and, when it differs, the
    last slice."""
    path = os.path.join(run, "summary.json")
    s = read_json(path)
    if "policy" not in s or "states" not in s or "actions" not in s:
        raise PlotError(f"{path}: no policy, states and actions (not a `bidsim mesob` summary)")
    slices = s["policy"]
    last = len(slices) - 1
    differs = any(abs(a - b) > 1e-3 for ra, rb in zip(slices[0], slices[last]) for a, b in zip(ra, rb))
    shown = [0, last] if differs and last > 0 else [0]
    states, actions = s["states"], s["actions"]
    fig, axes = plt.subplots(1, len(shown), figsize=(1.2 + 5.2 * len(shown), min(10, 0.4 * len(states) + 2.4)),
                             squeeze=False, constrained_layout=True)
    image = None
    # Every k-th label on a large grid, so labels never overlap; cell values only where they fit.
    x_every, y_every = max(1, math.ceil(len(actions) / 10)), max(1, math.ceil(len(states) / 20))
    for ax, t in zip(axes[0], shown):
        image = ax.imshow(slices[t], vmin=0, vmax=1, cmap="viridis", aspect="auto")
        if len(states) * len(actions) <= 80:
            for i, row in enumerate(slices[t]):
                for j, p in enumerate(row):
                    ax.text(j, i, f"{p:.2f}", ha="center", va="center", fontsize=7, color="white" if p < 0.6 else "black")
        ax.set_xticks(range(0, len(actions), x_every))
        ax.set_xticklabels(actions[::x_every], fontsize=8, rotation=0 if x_every == 1 and len(actions) <= 6 else 45)
        ax.set_yticks(range(0, len(states), y_every))
        ax.set_yticklabels(states[::y_every], fontsize=8)
        ax.set_xlabel("bid")
        ax.set_ylabel("state")
        ax.set_title(f"π_{t}(bid | state)", fontsize=10)
    fig.colorbar(image, ax=list(axes[0]), label="probability")
    fig.suptitle(f"mean-field policy: {s.get('name', os.path.basename(os.path.normpath(run)))} ({s.get('solver', '')})")
    return save(fig, out, tight=False)  # the colorbar spans the panels: constrained layout places it


def plot_history(run, out):
    """Exploitability and the optimality measure vs iteration of one `bidsim mesob` run."""
    return histories(out, f"bidsim mesob: {os.path.basename(os.path.normpath(run))}", [run])


def plot_front(run, out):
    return front(out, f"bidsim mesob-pareto: {os.path.basename(os.path.normpath(run))}", None,
                 [(os.path.basename(os.path.normpath(run)), run)])


def plots_for(run):
    """(figure name, function) for every figure `run` has data for."""
    has = lambda name: os.path.isfile(os.path.join(run, name))
    found = []
    if has("train.csv"):
        found.append(("train", plot_train))
    if has("steps.csv"):
        found.append(("pacing", plot_pacing))
    if has("history.csv"):
        found.append(("history", plot_history))
    if has("summary.json"):
        s = read_json(os.path.join(run, "summary.json"))
        if "exploitability" in s.get("per_agent", {}):
            found.append(("exploitability", plot_exploitability))
        if "policy" in s and "states" in s:
            found.append(("policy", plot_policy_heatmap))
        if "points" in s:
            found.append(("front", plot_front))
    return found


def plot_run(run, fmt="png", out_dir=None):
    """Every figure of `run`; returns the paths written."""
    if matplotlib is None:
        raise PlotError("plotting needs matplotlib for this Python (Debian: apt-get install python3-matplotlib)")
    if not os.path.isdir(run):
        raise PlotError(f"{run}: not a directory, expected a run directory (--out of a bidsim command)")
    found = plots_for(run)
    if not found:
        raise PlotError(f"{run}: nothing to plot, expected train.csv, steps.csv, history.csv or summary.json "
                        "of a bidsim command")
    out_dir = out_dir or run
    os.makedirs(out_dir, exist_ok=True)
    return [fn(run, os.path.join(out_dir, f"{name}.{fmt}")) for name, fn in found]


# --- several runs (the experiment scripts) ----------------------------------------------------------

def histories(out, title, runs):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    exploit, residual = [], []
    for k, run in enumerate(runs):
        path = os.path.join(run, "history.csv")
        rows = read_csv(path)
        it = column(rows, "iteration", path)
        label = os.path.basename(os.path.normpath(run))
        e = [max(v, FLOOR) for v in column(rows, "exploitability", path)]
        exploit += e
        a.plot(it, e, label=label, color=COLORS[k % len(COLORS)])
        if "residual" in rows[0]:
            r = [max(v, 1e-16) for v in column(rows, "residual", path)]
            residual += r
            b.plot(it, r, label=label, color=COLORS[k % len(COLORS)])
    log_axis(a, "y", exploit, FLOOR)
    log_axis(b, "y", residual or [1.0])
    for ax, what in ((a, "exploitability (eq. 5)"), (b, "optimality measure (residual)")):
        ax.set_xscale("symlog", linthresh=10)  # runs stop from 5 to 50,000 iterations
        ax.set_xlim(left=0)
        ax.set_xlabel("iteration")
        ax.set_ylabel(what)
        ax.grid(True, which="major", alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, out)


def welfare_terms(p):
    return p["shoppers_term"], p["advertisers_term"], p["publisher_term"]


def front(out, title, reference, runs):
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.3), gridspec_kw={"width_ratios": [1.6, 1, 1, 1]})
    xs_all = []
    ref_rows = read_csv(reference) if reference else []
    if ref_rows:
        rx = [max(float(r["exploitability"]), FLOOR) for r in ref_rows]
        xs_all += rx
        axes[0].plot(rx, [float(r["welfare"]) for r in ref_rows], "-", color="#777", lw=2, label="reference frontier (SLSQP)")
    for k, (label, run) in enumerate(runs):
        points = read_json(os.path.join(run, "summary.json"))["points"]
        color = COLORS[k % len(COLORS)]
        grid = [p for p in points if p["solver"] == "mesob-omo"]
        x = [max(p["exploitability"], FLOOR) for p in grid]
        xs_all += x
        axes[0].plot(x, [p["welfare"] for p in grid], "o", ms=4, color=color, alpha=0.8, label=label)
        for j, name in enumerate(("shoppers c1 ln(V1+ε1)", "advertisers c2 ln(V2/(V1V3+ε0)+ε2)", "publisher c3 ln(V1V3+ε3)")):
            axes[j + 1].plot(x, [welfare_terms(p)[j] for p in grid], "o", ms=3, color=color, alpha=0.8)
            axes[j + 1].set_title(name, fontsize=10)
        for p in points:  # the ends: MF-OMO red, MFC black (as in the paper's figures)
            if p["solver"] in ("mf-omo", "mfc"):
                c = "#d62728" if p["solver"] == "mf-omo" else "#000000"
                xx = max(p["exploitability"], FLOOR)
                xs_all.append(xx)
                axes[0].plot([xx], [p["welfare"]], "^", ms=9, color=c, mfc="none")
                for j in range(3):
                    axes[j + 1].plot([xx], [welfare_terms(p)[j]], "^", ms=7, color=c, mfc="none")
    axes[0].plot([], [], "^", color="#d62728", mfc="none", label="MF-OMO (equilibrium end)")
    axes[0].plot([], [], "^", color="#000000", mfc="none", label="MFC (λ2 = 0)")
    for ax in axes:
        log_axis(ax, "x", xs_all, FLOOR)
        ax.set_xlabel("exploitability (eq. 5)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("welfare F (eq. 7)")
    axes[0].set_title("welfare vs exploitability (Fig. 1 analogue)", fontsize=10)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    return save(fig, out)


def policy(out, title, run):
    s = read_json(os.path.join(run, "summary.json"))
    pi = s["policy"][0]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / len(pi)
    for k, (state, row) in enumerate(zip(s["states"], pi)):
        xs = [a + (k - (len(pi) - 1) / 2) * width for a in range(len(row))]
        ax.bar(xs, row, width, label=state, color=COLORS[k % len(COLORS)])
    ax.set_xticks(range(len(s["actions"])))
    ax.set_xticklabels(s["actions"])
    ax.set_ylabel("π_0(bid | state)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return save(fig, out)


def scatter_by_group(out, title, x_label, y_label, groups, labels=None):
    """One marker per point, a colour per group ({name: [(x, y), ...]}); `labels` ({(x, y): text}) annotates
    points. Used by tools/learning_report.py (welfare against exploitability per algorithm)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for k, (name, points) in enumerate(groups.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], "o", color=COLORS[k % len(COLORS)], label=name)
    for (x, y), text in (labels or {}).items():
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out)


def log_log_lines(out, title, x_label, y_label, series):
    """One line with markers per series ({label: [(x, y), ...]}), both axes log10 (log_axis). Used by
    bench/scaling.py (agent-steps/s against N)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    xs, ys = [], []
    for k, (label, points) in enumerate(series.items()):
        points = sorted(points)
        xs += [p[0] for p in points]
        ys += [p[1] for p in points]
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color=COLORS[k % len(COLORS)], label=label)
    log_axis(ax, "x", xs)
    log_axis(ax, "y", ys)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out)


def main(argv):
    try:
        if argv[:1] in (["histories"], ["front"], ["policy"]):
            if matplotlib is None:
                raise PlotError("plotting needs matplotlib (Debian: apt-get install python3-matplotlib)")
            if len(argv) < 4:
                raise PlotError(f"{argv[0]}: expected OUT TITLE and run directories (see bidsim_plot.py --help)")
            mode, out, title, rest = argv[0], argv[1], argv[2], argv[3:]
            if mode == "histories":
                histories(out, title, rest)
            elif mode == "policy":
                policy(out, title, rest[0])
            else:
                reference = None
                if rest[:1] == ["--reference"]:
                    reference, rest = rest[1], rest[2:]
                runs = [tuple(r.split("=", 1)) for r in rest]
                if any(len(r) != 2 for r in runs):
                    raise PlotError("front: runs are LABEL=PARETO_DIR")
                front(out, title, reference, runs)
            return 0
        if not argv or argv[0] in ("-h", "--help"):
            print(__doc__)
            return 0 if argv else 2
        run, fmt, out_dir, rest = argv[0], "png", None, argv[1:]
        while rest:
            if rest[0] == "--format" and len(rest) > 1 and rest[1] in ("png", "svg"):
                fmt, rest = rest[1], rest[2:]
            elif rest[0] == "--out" and len(rest) > 1 and rest[1]:
                out_dir, rest = rest[1], rest[2:]
            else:
                raise PlotError(f"{rest[0]}: expected --format png|svg or --out DIR")
        for path in plot_run(run, fmt, out_dir):
            print("wrote", path)
        return 0
    except PlotError as e:
        print(f"bidsim plot: {e}".replace("\n", " "), file=sys.stderr)
        return 2
    except OSError as e:
        print(f"bidsim plot: {e.filename or ''}: {e.strerror}".replace("\n", " "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
