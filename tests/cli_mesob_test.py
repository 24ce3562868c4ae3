#!/usr/bin/env python3
"""CLI checks of `bidsim mesob` / `mesob-pareto` (issue 14: convergence, step rules, the reference
frontier; issue 17: --quiet keeps files, NaN flags refused, progress), one case per CTest test:
cli_mesob_test.py BIDSIM SOURCE_DIR CASE. Standard library only, except the reference-frontier cases,
which run tools/mesob_reference_frontier.py under /usr/bin/python3 (numpy, scipy)."""
import csv
import json
import os
import subprocess
import sys
import tempfile

from case_driver import expect, run_case

BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
PAPER = os.path.join(SOURCE, "scenarios", "mesob-paper.yaml")
ONE_STAGE = ["--set", "game.horizon=0"]
REFERENCE = os.path.join(SOURCE, "tools", "mesob_reference_frontier.py")
RESULTS = os.path.join(SOURCE, "results", "mesob")


def run(*args, env=None, timeout=280):
    proc = subprocess.run([BIDSIM, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr


def expect_usage_error(args, *fragments):
    code, out, err = run(*args)
    print("$ bidsim", " ".join(args), "->", code, "| stderr:", err, end="")
    expect(code == 2, f"exit status {code}, expected 2")
    lines = err.splitlines()
    expect(len(lines) == 1, f"{len(lines)} stderr lines, expected exactly one")
    for f in fragments:
        expect(f in lines[0], f"stderr does not name {f!r}")


def read_json(path):
    expect(os.path.isfile(path), f"no {os.path.basename(path)} written")
    with open(path) as f:
        return json.load(f)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def case_quiet_keeps_files():
    # Issue 17: `mesob --quiet --out DIR` wrote nothing and exited 0. --quiet only shortens stdout.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "q")
        code, stdout, err = run("mesob", PAPER, *ONE_STAGE, "--iterations", "50", "--quiet", "--out", out)
        expect(code == 0, f"exit status {code}: {err}")
        for name in ("summary.json", "history.csv", "history.svg"):
            expect(os.path.isfile(os.path.join(out, name)), f"--quiet dropped {name}")
        expect(len(stdout.splitlines()) <= 2, f"--quiet printed {len(stdout.splitlines())} lines")
        expect("wrote" not in stdout, "--quiet printed the file list")
        loud = os.path.join(tmp, "l")
        code, stdout_loud, _ = run("mesob", PAPER, *ONE_STAGE, "--iterations", "50", "--out", loud)
        expect(code == 0 and len(stdout_loud.splitlines()) > len(stdout.splitlines()), "without --quiet it says more")
        # Same run, same files (quiet changes nothing but stdout; seconds differ).
        a, b = read_json(os.path.join(out, "summary.json")), read_json(os.path.join(loud, "summary.json"))
        for key in ("exploitability", "welfare", "residual", "converged", "policy"):
            expect(a[key] == b[key], f"{key} differs between --quiet and not")
        out = os.path.join(tmp, "p")
        code, _, err = run("mesob-pareto", PAPER, *ONE_STAGE, "--iterations", "20", "--lambda1-grid", "0,1",
                           "--lambda2-grid", "1", "--quiet", "--out", out)
        expect(code == 0, f"pareto exit status {code}: {err}")
        for name in ("summary.json", "pareto.csv", "pareto.svg", "components.svg"):
            expect(os.path.isfile(os.path.join(out, name)), f"mesob-pareto --quiet dropped {name}")


def case_bad_numbers_refused():
    # Issue 17: `--lr nan` and `--lambda1 nan` were replaced by the defaults. Each is one line, exit 2.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m")
        for flag, value in (("--lr", "nan"), ("--lambda1", "nan"), ("--lambda2", "NaN"), ("--rho1", "inf"),
                            ("--rho2", "-inf"), ("--tol", "nan"), ("--tol", "-1"), ("--lr", "0"),
                            ("--lambda1", "-0.5"), ("--lr", "1e-3x")):
            expect_usage_error(["mesob", PAPER, flag, value, "--out", out], flag, value)
            expect(not os.path.exists(os.path.join(out, "summary.json")), "summary.json left behind")
        expect_usage_error(["mesob-pareto", PAPER, "--tol", "nan", "--out", out], "--tol")
        expect_usage_error(["mesob", PAPER, "--optimizer", "newton"], "--optimizer")
        expect_usage_error(["mesob", PAPER, "--consistency", "soft"], "--consistency")
        expect_usage_error(["mesob", PAPER, "--set", "solver.tol=nan"], "solver.tol")
        expect_usage_error(["mesob", PAPER, "--set", "solver.tol=-1"], "solver.tol")
        expect_usage_error(["mesob", PAPER, "--set", "solver.optimizer=lbfgs"], "solver.optimizer")
        expect_usage_error(["mesob", PAPER, "--set", "solver.consistency=loose"], "solver.consistency")
        expect_usage_error(["mesob", PAPER, "--set", "solver.multiplier_every=-1"], "solver.multiplier_every")
        expect_usage_error(["mesob", PAPER, "--budget", "nan"], "--budget")
        expect_usage_error(["mesob", PAPER, "--budget", "-0.1"], "--budget")
        expect_usage_error(["mesob", PAPER, "--budget", "0.01", "--solver", "mfc"], "--budget", "mesob-omo")
        expect_usage_error(["mesob-pareto", PAPER, "--method", "grid"], "--method")
        expect_usage_error(["mesob-pareto", PAPER, "--method", "frontier", "--budgets", "1"], "--budgets")


def case_convergence_reported():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "mfc")
        code, stdout, err = run("mesob", PAPER, *ONE_STAGE, "--solver", "mfc", "--optimizer", "armijo",
                                "--iterations", "3000", "--tol", "1e-9", "--out", out)
        print(stdout, err)
        expect(code == 0, f"exit status {code}: {err}")
        s = read_json(os.path.join(out, "summary.json"))
        expect(s["converged"] is True, "mfc with armijo did not converge")
        expect(s["residual"] <= 1e-9, f"residual {s['residual']}")
        expect(s["iterations_run"] < 3000, "--tol did not stop the run early")
        expect(s["config"]["tol"] == 1e-9 and s["config"]["optimizer"] == "armijo", "config echoes tol / optimizer")
        rows = read_csv(os.path.join(out, "history.csv"))
        expect("residual" in rows[0], "history.csv has no residual column")
        expect(int(rows[-1]["iteration"]) == s["iterations_run"], "last history row is where it stopped")
        expect(float(rows[0]["residual"]) > 1e-3 >= float(rows[-1]["residual"]), "the residual falls")
        # Adam stalls: same problem, 3000 iterations, residual stays large (the observation).
        out = os.path.join(tmp, "adam")
        code, _, err = run("mesob", PAPER, *ONE_STAGE, "--solver", "mfc", "--optimizer", "adam",
                           "--iterations", "3000", "--tol", "1e-9", "--out", out)
        a = read_json(os.path.join(out, "summary.json"))
        expect(code == 0 and a["converged"] is False and a["residual"] > 1e-2, "projected Adam did not stall here")
        expect(a["welfare"] < s["welfare"] - 1e-2, "Adam's F should be below the converged maximum")
        # Fictitious play reports exploitability as its measure and stops at tol.
        out = os.path.join(tmp, "fp")
        code, _, err = run("mesob", PAPER, *ONE_STAGE, "--solver", "fp", "--iterations", "5000", "--tol", "1e-3",
                           "--out", out)
        f = read_json(os.path.join(out, "summary.json"))
        expect(code == 0 and f["converged"] and f["residual"] == f["exploitability"], "fp measure")
        expect(f["iterations_run"] < 5000, "fp did not stop at tol")


def case_pareto_progress():
    # Progress appears after BIDSIM_PROGRESS_AFTER seconds (default 2; 0 here so no timing is involved):
    # plain lines with the count, a rate and an ETA on stderr (stderr is not a terminal here).
    with tempfile.TemporaryDirectory() as tmp:
        args = ["mesob-pareto", PAPER, *ONE_STAGE, "--iterations", "30", "--lambda1-grid", "0,0.5,1",
                "--lambda2-grid", "0.5,1", "--threads", "1", "--out", os.path.join(tmp, "p")]
        code, stdout, err = run(*args, env={"BIDSIM_PROGRESS_AFTER": "0"})
        print(err)
        expect(code == 0, f"exit status {code}")
        lines = [l for l in err.splitlines() if l.startswith("mesob-pareto:")]
        expect(len(lines) >= 1, "no progress line")
        expect("/7 configurations" in lines[-1] and "/s" in lines[-1], f"progress line {lines[-1]!r}")
        expect(any("ETA" in l for l in lines) or "done in" in lines[-1], "no ETA / total time")
        code, _, err = run(*args, "--quiet", "--force", env={"BIDSIM_PROGRESS_AFTER": "0"})
        expect(code == 0 and "configurations" not in err, "--quiet still printed progress")


def frontier_ratio(front, reference):
    """At each reference welfare level f: the least exploitability of a front point with F >= f - 1e-6,
    divided by the reference's, both floored at 1e-6 (the issue's tolerances: an equilibrium is
    exploitability < 1e-6, the maximum of F is met within 1e-6)."""
    out = []
    for r in reference:
        level, ref = float(r["level"]), float(r["exploitability"])
        ok = [p["exploitability"] for p in front if p["welfare"] >= level - 1e-6]
        out.append((level, ref, min(ok) if ok else float("inf")))
    return [(level, ref, got, max(got, 1e-6) / max(ref, 1e-6)) for level, ref, got in out]


def case_reference_frontier_small():
    # The reference tool on the one-stage paper game with few starts: its max F (an independent
    # multistart maximization, scipy SLSQP on its own closed forms) equals mfc's to 1e-6, and its least
    # exploitable point is an equilibrium.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ref.csv")
        proc = subprocess.run(["/usr/bin/python3", REFERENCE, "--horizon", "0", "--levels", "3", "--starts", "4",
                               "--out", path], capture_output=True, text=True, timeout=280)
        print(proc.stderr)
        expect(proc.returncode == 0, f"reference tool exit status {proc.returncode}")
        meta = read_json(path[:-4] + ".json")
        rows = read_csv(path)
        expect(len(rows) == 3, f"{len(rows)} levels")
        out = os.path.join(tmp, "mfc")
        code, _, err = run("mesob", PAPER, *ONE_STAGE, "--solver", "mfc", "--tol", "1e-10", "--out", out)
        mfc = read_json(os.path.join(out, "summary.json"))
        print("mfc F", mfc["welfare"], "reference max F", meta["max_welfare"]["welfare"])
        expect(abs(mfc["welfare"] - meta["max_welfare"]["welfare"]) <= 1e-6, "mfc's F is not the reference's max F")
        expect(meta["least_exploitable"]["exploitability"] < 1e-9, "the reference found no equilibrium")
        for a, b in zip(rows, rows[1:]):
            expect(float(a["exploitability"]) <= float(b["exploitability"]) + 1e-9, "frontier not monotone")


def case_front_against_reference():
    # The MESOB-OMO λ grid and the ε-constraint frontier on the one-stage paper game against the
    # committed reference frontier (results/mesob/reference-h0.csv, made by tools/mesob_experiments.sh).
    # Prints the ratio at every welfare level; checks the endpoints and the frontier method's ratio.
    reference = read_csv(os.path.join(RESULTS, "reference-h0.csv"))
    meta = read_json(os.path.join(RESULTS, "reference-h0.json"))
    with tempfile.TemporaryDirectory() as tmp:
        fronts = {}
        for method in ("lambda", "frontier"):
            out = os.path.join(tmp, method)
            code, stdout, err = run("mesob-pareto", PAPER, *ONE_STAGE, "--method", method, "--out", out)
            print(stdout)
            expect(code == 0, f"{method}: exit status {code}: {err}")
            fronts[method] = read_json(os.path.join(out, "summary.json"))["points"]
        for method, points in fronts.items():
            print(f"{method}: level, reference exploitability, front exploitability, ratio")
            for level, ref, got, ratio in frontier_ratio(points, reference):
                print(f"  {level:.6f}  {ref:.3e}  {got:.3e}  {ratio:.2f}")
        frontier = fronts["frontier"]
        best_f = max(p["welfare"] for p in frontier)
        least = min(p["exploitability"] for p in frontier)
        expect(abs(best_f - meta["max_welfare"]["welfare"]) <= 1e-6, f"frontier's max F {best_f}")
        expect(least < 1e-6, f"frontier's least exploitable point {least}")
        worst = max(r for _, _, _, r in frontier_ratio(frontier, reference))
        print("frontier method: worst ratio", worst)
        expect(worst <= 1.5, f"frontier method's exploitability is {worst:.2f}x the reference somewhere")


if __name__ == "__main__":
    run_case(globals(), CASE)
