#!/usr/bin/python3
"""Mean-field plots with matplotlib (Debian's python3-matplotlib, under /usr/bin/python3):

  plot_histories.py histories OUT.png TITLE RUN_DIR...
      exploitability and the optimality measure (residual) vs iteration of `bidsim mesob --out RUN_DIR`
      runs (their history.csv), log y axes.
  plot_histories.py front OUT.png TITLE [--reference REF.csv] LABEL=PARETO_DIR...
      the Fig. 1 analogue (welfare F vs exploitability, log x) and the Fig. 2 analogue (the three
      welfare terms) of `bidsim mesob-pareto --out PARETO_DIR` runs, with the reference frontier of
      tools/mesob_reference_frontier.py drawn as a line; exploitability below 1e-9 is drawn at 1e-9.
  plot_histories.py policy OUT.png TITLE RUN_DIR
      the Fig. 3 analogue: π_0(bid | state) of a `bidsim mesob --out RUN_DIR` run as grouped bars.
"""
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FLOOR = 1e-9  # exploitability of an exact equilibrium is drawn here on log axes
COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#d62728", "#7f7f7f"]


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def histories(out, title, runs):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for k, run in enumerate(runs):
        rows = read_csv(os.path.join(run, "history.csv"))
        it = [float(r["iteration"]) for r in rows]
        label = os.path.basename(os.path.normpath(run))
        a.plot(it, [max(float(r["exploitability"]), FLOOR) for r in rows], label=label, color=COLORS[k % len(COLORS)])
        if "residual" in rows[0]:
            b.plot(it, [max(float(r["residual"]), 1e-16) for r in rows], label=label, color=COLORS[k % len(COLORS)])
    for ax, what in ((a, "exploitability (eq. 5)"), (b, "optimality measure (residual)")):
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=10)  # runs stop from 5 to 50,000 iterations
        ax.set_xlim(left=0)
        ax.set_xlabel("iteration")
        ax.set_ylabel(what)
        ax.grid(True, which="major", alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def welfare_terms(p):
    return p["shoppers_term"], p["advertisers_term"], p["publisher_term"]


def front(out, title, reference, runs):
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.3), gridspec_kw={"width_ratios": [1.6, 1, 1, 1]})
    ref_rows = read_csv(reference) if reference else []
    if ref_rows:
        rx = [max(float(r["exploitability"]), FLOOR) for r in ref_rows]
        axes[0].plot(rx, [float(r["welfare"]) for r in ref_rows], "-", color="#777", lw=2, label="reference frontier (SLSQP)")
    for k, (label, run) in enumerate(runs):
        with open(os.path.join(run, "summary.json")) as f:
            points = json.load(f)["points"]
        color = COLORS[k % len(COLORS)]
        grid = [p for p in points if p["solver"] == "mesob-omo"]
        x = [max(p["exploitability"], FLOOR) for p in grid]
        axes[0].plot(x, [p["welfare"] for p in grid], "o", ms=4, color=color, alpha=0.8, label=label)
        for j, name in enumerate(("shoppers c1 ln(V1+ε1)", "advertisers c2 ln(V2/(V1V3+ε0)+ε2)", "publisher c3 ln(V1V3+ε3)")):
            axes[j + 1].plot(x, [welfare_terms(p)[j] for p in grid], "o", ms=3, color=color, alpha=0.8)
            axes[j + 1].set_title(name, fontsize=10)
        for p in points:  # the ends: MF-OMO red, MFC black (as in the paper's figures)
            if p["solver"] in ("mf-omo", "mfc"):
                c = "#d62728" if p["solver"] == "mf-omo" else "#000000"
                xx = max(p["exploitability"], FLOOR)
                axes[0].plot([xx], [p["welfare"]], "^", ms=9, color=c, mfc="none")
                for j in range(3):
                    axes[j + 1].plot([xx], [welfare_terms(p)[j]], "^", ms=7, color=c, mfc="none")
    axes[0].plot([], [], "^", color="#d62728", mfc="none", label="MF-OMO (equilibrium end)")
    axes[0].plot([], [], "^", color="#000000", mfc="none", label="MFC (λ2 = 0)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("exploitability (eq. 5)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("welfare F (eq. 7)")
    axes[0].set_title("welfare vs exploitability (Fig. 1 analogue)", fontsize=10)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def policy(out, title, run):
    with open(os.path.join(run, "summary.json")) as f:
        s = json.load(f)
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
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv):
    if len(argv) < 3 or argv[0] not in ("histories", "front", "policy"):
        sys.exit(__doc__)
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
            sys.exit("plot_histories.py front: runs are LABEL=PARETO_DIR")
        front(out, title, reference, runs)


if __name__ == "__main__":
    main(sys.argv[1:])
