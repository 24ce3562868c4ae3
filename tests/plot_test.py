#!/usr/bin/python3
"""The plotting path (tools/bidsim_plot.py, matplotlib) and `bidsim plot`, one case per CTest test:
plot_test.py BIDSIM SOURCE_DIR CASE. Runs under /usr/bin/python3 (Debian's python3-matplotlib).

Figures are drawn from small generated inputs; each file must be a valid PNG (signature, IHDR size) or
SVG (well-formed XML with an <svg> root), the axes must carry the expected labels, and every log axis
must be labelled at whole powers of ten only (10^k), never at fractional exponents."""
import csv
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from case_driver import expect, expect_one_line_usage_error, run_case, run_command

BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(SOURCE, "tools"))
import bidsim_plot  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402  (bidsim_plot chose the Agg backend)

POWER_OF_TEN = re.compile(r"^\$\\mathdefault\{10\^\{(-?\d+)\}\}\$$")


def expect_png(path, min_width=300):
    with open(path, "rb") as f:
        head = f.read(24)
    expect(head[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG")
    width, height = struct.unpack(">II", head[16:24])
    expect(width >= min_width and height >= 200, f"{path}: {width}x{height} pixels")


def expect_svg(path):
    root = ET.parse(path).getroot()
    expect(root.tag.endswith("svg"), f"{path}: root element {root.tag}")


def log_tick_labels(ax, axis):
    """(position, label) of the labelled major ticks inside the view of a log axis."""
    ax.figure.canvas.draw()
    a = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    return [(t.get_loc(), t.label1.get_text()) for t in a.get_major_ticks()
            if lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9) and t.label1.get_text()]


def expect_power_of_ten_ticks(ax, axis):
    ticks = log_tick_labels(ax, axis)
    expect(len(ticks) >= 2, f"{len(ticks)} labelled ticks on the log {axis} axis: {ticks}")
    for position, label in ticks:
        m = POWER_OF_TEN.match(label)
        expect(m is not None, f"log {axis} tick label {label!r} is not 10^k")
        expect(math.isclose(10.0 ** int(m.group(1)), position, rel_tol=1e-9), f"label {label!r} at {position}")
    minors = [t.label1.get_text() for t in (ax.yaxis if axis == "y" else ax.xaxis).get_minor_ticks()]
    expect(not any(minors), f"labelled minor ticks {minors[:5]}")
    return ticks


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def make_train_run(d):
    """A train.csv whose gradient norms span 1e-7..1e3 (and a zero, drawn at the floor)."""
    header = ["iteration", "social_welfare", "revenue", "lambda_bar", "xi", "norm_l1", "norm_ls", "norm_lg", "norm_lw",
              "norm_step", "policy_log_std", "seconds"]
    rows = [[k, 100 + k, 40 + k / 2, 0.01 * (k % 3), 0.02, 10.0 ** (3 - k), 1e-7 * k, 0.5, 0.0 if k == 4 else 2.0,
             0.1, -1 + 0.01 * k, 0.5] for k in range(1, 11)]
    write_csv(os.path.join(d, "train.csv"), header, rows)


def make_steps_run(d):
    header = ["step", "impressions", "auction_passes", "active_agents", "mean_multiplier", "value", "cost", "reward",
              "wins", "exposures", "conversions"]
    write_csv(os.path.join(d, "steps.csv"), header,
              [[t, 100, 1, 10 - t, 0.8 + 0.01 * t, 50 - t, 20 - t, 30, 60, 60, 0] for t in range(8)])


def make_evaluation_run(d):
    gain = [5.0, 8.0, 2.5]
    s = {"social_welfare": 1000.0, "epsilon": 0.01, "max_exploitability": 0.008, "evaluated_agents": [0, 3, 7],
         "per_agent": {"exploitability": gain, "exploitability_low": [g - 1 for g in gain],
                       "exploitability_high": [g + 1 for g in gain]}}
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(s, f)


def make_mesob_run(d):
    """A mesob summary (policy [T+1][S][A]) and a history whose exploitability falls 1 -> 1e-6."""
    states, actions = ["ctr=0.2", "ctr=0.4"], ["bid=0", "bid=1", "bid=2"]
    pi0 = [[0.5, 0.5, 0.0], [0.0, 0.2, 0.8]]
    pi1 = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump({"name": "tiny", "solver": "mesob-omo", "states": states, "actions": actions, "policy": [pi0, pi1]}, f)
    write_csv(os.path.join(d, "history.csv"),
              ["iteration", "objective", "exploitability", "welfare", "consistency", "best_response", "complementarity",
               "residual"],
              [[10 * k, 1, 10.0 ** (-k), 1, 0, 0, 0, 10.0 ** (-2 * k)] for k in range(7)])


def case_figures_from_small_inputs():
    with tempfile.TemporaryDirectory() as d:
        runs = {name: os.path.join(d, name) for name in ("train", "steps", "evaluation", "mesob")}
        for path in runs.values():
            os.makedirs(path)
        make_train_run(runs["train"])
        make_steps_run(runs["steps"])
        make_evaluation_run(runs["evaluation"])
        make_mesob_run(runs["mesob"])
        expected = {"train": ["train"], "steps": ["pacing"], "evaluation": ["exploitability"],
                    "mesob": ["history", "policy"]}
        for name, run in runs.items():
            found = [n for n, _ in bidsim_plot.plots_for(run)]
            expect(found == expected[name], f"{name}: figures {found}, expected {expected[name]}")
            for fmt in ("png", "svg"):
                written = bidsim_plot.plot_run(run, fmt, os.path.join(d, f"{name}-{fmt}"))
                expect(len(written) == len(expected[name]), f"{name}: wrote {written}")
                for path in written:
                    (expect_png if fmt == "png" else expect_svg)(path)
                    expect(not os.path.exists(path + ".tmp"), f"{path}.tmp left behind")


def figure_of(draw):
    """Runs a plotting function with save() captured, returning the figure instead of closing it."""
    captured = {}
    original = bidsim_plot.save
    bidsim_plot.save = lambda fig, path, tight=True: captured.setdefault("fig", fig)
    try:
        draw()
    finally:
        bidsim_plot.save = original
    return captured["fig"]


def case_axes_labels_and_log_ticks():
    with tempfile.TemporaryDirectory() as d:
        make_train_run(d)
        fig = figure_of(lambda: bidsim_plot.plot_train(d, "x.png"))
        axes = {ax.get_title(): ax for ax in fig.axes}
        norms = axes["BPG terms (Table 4)"]
        expect(norms.get_yscale() == "log" and norms.get_ylabel() == "gradient norm (0 not drawn)", "gradient-norm panel")
        ticks = expect_power_of_ten_ticks(norms, "y")
        print("gradient-norm ticks:", [l for _, l in ticks])
        expect(all(ax.get_xlabel() == "iteration" for ax in fig.axes), "x labels of the training curves")
        plt.close(fig)

        make_steps_run(d)
        fig = figure_of(lambda: bidsim_plot.plot_pacing(d, "x.png"))
        labels = {ax.get_ylabel() for ax in fig.axes}
        for label in ("spend per step (all agents)", "share of the episode's spend", "agents above the budget floor",
                      "mean bid multiplier (active agents)"):
            expect(label in labels, f"pacing figure lacks the axis {label!r}: {labels}")
        plt.close(fig)

        mesob = os.path.join(d, "m")
        os.makedirs(mesob)
        make_mesob_run(mesob)
        fig = figure_of(lambda: bidsim_plot.plot_history(mesob, "x.png"))
        for ax in fig.axes:
            ticks = expect_power_of_ten_ticks(ax, "y")
        print("history ticks:", [l for _, l in ticks])
        plt.close(fig)
        fig = figure_of(lambda: bidsim_plot.plot_policy_heatmap(mesob, "x.png"))
        heat = [ax for ax in fig.axes if ax.get_title().startswith("π_")]
        expect([ax.get_title() for ax in heat] == ["π_0(bid | state)", "π_1(bid | state)"], "one heatmap per slice")
        expect([t.get_text() for t in heat[0].get_xticklabels()] == ["bid=0", "bid=1", "bid=2"], "bid labels")
        expect([t.get_text() for t in heat[0].get_yticklabels()] == ["ctr=0.2", "ctr=0.4"], "state labels")
        plt.close(fig)

        # A range inside one decade still gets whole-decade labels (the C++ writer once printed 1e-0.3).
        fig, ax = plt.subplots()
        ax.plot([1, 2], [0.3, 0.6])
        bidsim_plot.log_axis(ax, "y", [0.3, 0.6])
        expect([l for _, l in expect_power_of_ten_ticks(ax, "y")] == ["$\\mathdefault{10^{-1}}$", "$\\mathdefault{10^{0}}$"],
               "a narrow range gets the decades around it")
        # Many decades: every k-th decade, at most about eight labels.
        bidsim_plot.log_axis(ax, "y", [1e-30, 1e10])
        expect(len(expect_power_of_ten_ticks(ax, "y")) <= 9, "too many labelled decades")
        plt.close(fig)


def case_plot_command():
    with tempfile.TemporaryDirectory() as d:
        sim = os.path.join(d, "sim")
        code, _, err = run_command(BIDSIM, "simulate", os.path.join(SOURCE, "scenarios", "default.yaml"), "--set",
                                   "market.envs=1", "--set", "impressions.per_step=20", "--set", "market.steps=4",
                                   "--quiet", "--out", sim)
        expect(code == 0, f"simulate: {err}")
        code, out, err = run_command(BIDSIM, "plot", sim, timeout=300)
        print(out, err)
        expect(code == 0, f"bidsim plot: exit {code}: {err}")
        expect_png(os.path.join(sim, "pacing.png"))
        mesob = os.path.join(d, "mesob")
        code, _, err = run_command(BIDSIM, "mesob", os.path.join(SOURCE, "scenarios", "mesob-paper.yaml"), "--set",
                                   "game.horizon=1", "--iterations", "30", "--quiet", "--out", mesob)
        expect(code == 0, f"mesob: {err}")
        figures = os.path.join(d, "figures")
        code, out, err = run_command(BIDSIM, "plot", mesob, "--format", "svg", "--out", figures, timeout=300)
        expect(code == 0, f"bidsim plot --format svg: exit {code}: {err}")
        for name in ("history.svg", "policy.svg"):
            expect_svg(os.path.join(figures, name))
        # Bad input: one line, exit status 2.
        expect_one_line_usage_error(BIDSIM, ["plot", os.path.join(d, "missing")], "missing", "not a directory")
        empty = os.path.join(d, "empty")
        os.makedirs(empty)
        expect_one_line_usage_error(BIDSIM, ["plot", empty], "nothing to plot")
        expect_one_line_usage_error(BIDSIM, ["plot", sim, "--format", "gif"], "--format", "gif")
        with open(os.path.join(empty, "summary.json"), "w") as f:
            f.write("{not json")
        expect_one_line_usage_error(BIDSIM, ["plot", empty], "summary.json", "not valid JSON")


if __name__ == "__main__":
    run_case(globals(), CASE)
