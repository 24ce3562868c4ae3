#!/usr/bin/env python3
"""The experiment scripts' shared parts (tools/experiment_runs.sh, tools/report_common.py), one case per CTest
test: experiment_tools_test.py SOURCE_DIR CASE. A stand-in program plays bidsim, so no run costs anything."""
import json
import os
import stat
import subprocess
import sys
import tempfile

from case_driver import expect, run_case

SOURCE, CASE = sys.argv[1], sys.argv[2]
RUNS = os.path.join(SOURCE, "tools", "experiment_runs.sh")
sys.path.insert(0, os.path.join(SOURCE, "tools"))

# Records its arguments in ARGS_LOG and writes summary.json to --out; fails when its first argument is "fail".
FAKE_BIDSIM = """#!/bin/sh
echo "$*" >> "$ARGS_LOG"
[ "$1" = fail ] && exit 1
while [ $# -gt 0 ]; do [ "$1" = --out ] && echo '{}' > "$2/summary.json"; shift; done
"""


def run_all(tmp, lines, **env):
    fake = os.path.join(tmp, "fake-bidsim")
    if not os.path.exists(fake):
        with open(fake, "w") as f:
            f.write(FAKE_BIDSIM)
        os.chmod(fake, stat.S_IRWXU)
    environment = {**os.environ, "OUT": os.path.join(tmp, "out"), "BIDSIM": fake, "ARGS_LOG": os.path.join(tmp, "args"),
                   "RUN_FLAGS": "--threads 1", "JOBS": "2", **env}
    proc = subprocess.run(["bash", "-c", f'source "{RUNS}" && run_all'], input="".join(l + "\n" for l in lines),
                          capture_output=True, text=True, env=environment, cwd=SOURCE, timeout=60)
    print(proc.stdout, proc.stderr, end="")
    expect(proc.returncode == 0, f"run_all exited {proc.returncode}")
    calls = open(environment["ARGS_LOG"]).read().splitlines() if os.path.exists(environment["ARGS_LOG"]) else []
    return proc.stdout, calls


def case_runs_skips_and_resumes():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        os.makedirs(os.path.join(out, "done"))
        open(os.path.join(out, "done", "summary.json"), "w").write("{}")
        os.makedirs(os.path.join(out, "interrupted"))
        open(os.path.join(out, "interrupted", "checkpoint.pt"), "w").write("")
        stdout, calls = run_all(tmp, ["done train a", "interrupted train b --seed 2", "fresh train c", "broken fail"])
        expect(sorted(calls) == sorted([f"train b --seed 2 --resume {out}/interrupted/checkpoint.pt --threads 1 "
                                        f"--out {out}/interrupted",
                                        f"train c --threads 1 --out {out}/fresh",
                                        f"fail --threads 1 --out {out}/broken"]), f"calls {calls}")
        expect("FAILED broken" in stdout, "a failing run is reported")
        command = open(os.path.join(out, "fresh", "command.txt")).read()
        expect(command.startswith(f"bidsim train c --threads 1 --out {out}/fresh  # commit "), command)
        expect(not os.path.exists(os.path.join(out, "broken", "command.txt")), "no command.txt for a failed run")
        # A second pass runs only what has no summary.json.
        os.remove(os.path.join(tmp, "args"))
        _, calls = run_all(tmp, ["done train a", "interrupted train b --seed 2", "fresh train c", "broken fail"])
        expect(calls == [f"fail --threads 1 --out {out}/broken"], f"second pass calls {calls}")


def case_deadline_starts_nothing():
    with tempfile.TemporaryDirectory() as tmp:
        stdout, calls = run_all(tmp, ["late train a"], DEADLINE="1")
        expect(calls == [], f"calls after the deadline: {calls}")
        expect("deadline: late left for the next chunk" in stdout, "the deadline is reported")


def case_run_unless_and_lock():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        os.makedirs(out)
        # A hook that claims every run named "twin*": it writes same_run.json and exits 0.
        hook = os.path.join(tmp, "hook")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\ncase "$1" in twin*) mkdir -p "$OUT/$1" && echo {} > "$OUT/$1/same_run.json";; *) exit 1;; esac\n')
        os.chmod(hook, stat.S_IRWXU)
        stdout, calls = run_all(tmp, ["twin-a train a", "real-b train b"], RUN_UNLESS=hook)
        expect(calls == [f"train b --threads 1 --out {out}/real-b"], f"calls {calls}")
        expect("same run: twin-a" in stdout, "the recorded run is reported")
        expect(os.path.isfile(os.path.join(out, "twin-a", "same_run.json")), "same_run.json written")
        # A run whose log another invocation holds locked is left to it.
        holder = subprocess.Popen(["flock", os.path.join(out, "held.log"), "sleep", "30"])
        try:
            for _ in range(100):
                if subprocess.run(["flock", "-n", os.path.join(out, "held.log"), "true"]).returncode != 0:
                    break
                subprocess.run(["sleep", "0.1"])
            os.remove(os.path.join(tmp, "args"))
            stdout, calls = run_all(tmp, ["held train h", "twin-a train a"])
            expect(calls == [], f"calls {calls}")
            expect("busy: held" in stdout, "a locked run is reported busy")
        finally:
            holder.kill()
            holder.wait()


def write_run(out, name, algorithm, epsilon, seed, lambda_bars, high=0.08, iterations=None, steps=60):
    os.makedirs(os.path.join(out, name))
    with open(os.path.join(out, name, "train.csv"), "w") as f:
        f.write("iteration,social_welfare,lambda_bar,seconds\n")
        for k, l in enumerate(lambda_bars):
            f.write(f"{k + 1},{100 * seed + k},{l},1.0\n")
    summary = {"algorithm": algorithm, "epsilon": epsilon, "seed": seed, "scenario": "scenarios/bpg-100.yaml",
               "iterations": iterations or len(lambda_bars), "iterations_lambda_positive": sum(l > 0 for l in lambda_bars),
               "best_response": {"max_steps": steps, "envs_per_agent": 2}, "max_exploitability_high": high,
               "max_exploitability": high / 2, "social_welfare": 100.0 * seed, "revenue": 10.0}
    with open(os.path.join(out, name, "summary.json"), "w") as f:
        json.dump(summary, f)


def run_learning_report(out):
    """tools/learning_report.py on the runs in `out`, in this process (its printed tables discarded); returns the
    module, whose load() and train_rows() the tests call."""
    import contextlib, importlib.util, io
    sys.argv = ["learning_report.py", out]
    spec = importlib.util.spec_from_file_location("learning_report", os.path.join(SOURCE, "tools", "learning_report.py"))
    report = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(io.StringIO()):
        spec.loader.exec_module(report)
    return report


def case_table1_same_run():
    hook = os.path.join(SOURCE, "tools", "table1_same_run.py")
    args = ["train", "scenarios/bpg-100.yaml", "--iterations", "3", "--set", "learning.best_response.steps=60",
            "--set", "learning.best_response.envs_per_agent=2"]

    def same(out, name, algo, eps, seed):
        proc = subprocess.run([sys.executable, hook, name, *args, "--algo", algo, "--epsilon", eps, "--seed", seed],
                              env={**os.environ, "OUT": out}, capture_output=True, text=True)
        expect(proc.returncode in (0, 1), f"hook failed: {proc.stderr}")
        return proc.returncode == 0

    with tempfile.TemporaryDirectory() as out:
        write_run(out, "t1-bpg_zero-e0.08-s1", "bpg_zero", 0.08, 1, [0, 0, 0])    # unconstrained
        write_run(out, "t1-bpg_zero-e0.04-s2", "bpg_zero", 0.04, 2, [0, 0.3, 0])  # bound once
        write_run(out, "t1-bpg_zero-e0.08-s3", "bpg_zero", 0.08, 3, [0, 0, 0], steps=30)  # other settings
        expect(same(out, "t1-bpg-e0.08-s1", "bpg", "0.08", "1"), "bpg at the same ε")
        expect(same(out, "t1-bpg_zero-e0.12-s1", "bpg_zero", "0.12", "1"), "a larger ε")
        record = json.load(open(os.path.join(out, "t1-bpg_zero-e0.12-s1", "same_run.json")))
        expect(record["same_run_as"] == "t1-bpg_zero-e0.08-s1" and record["epsilon"] == 0.12, str(record))
        expect(not same(out, "t1-bpg-e0.04-s1", "bpg", "0.04", "1"), "a smaller ε is not the same run")
        expect(not same(out, "t1-bpg-e0.08-s2", "bpg", "0.08", "2"), "a run where λ̄ > 0 once stands for nothing")
        expect(not same(out, "t1-bpg-e0.12-s3", "bpg", "0.12", "3"), "other best-response settings")
        expect(not same(out, "t1-bpg-e0.12-s4", "bpg", "0.12", "4"), "another seed")
        expect(not os.path.exists(os.path.join(out, "t1-bpg-e0.04-s1")), "nothing written when not the same run")
        # The report takes the twin's numbers with this run's ε and decides compliance at that ε.
        report = run_learning_report(out)
        recorded = report.load("t1-bpg_zero-e0.12-s1")
        expect(recorded["epsilon"] == 0.12 and recorded["algorithm"] == "bpg_zero", str(recorded))
        expect(recorded["complies"] is True, "0.08 ≤ 0.12 complies")
        expect(len(report.train_rows("t1-bpg_zero-e0.12-s1")) == 3, "the twin's train.csv")


def case_report_comparisons():
    """table1-comparisons.md and table1-cost.md. The comparisons: bpg against bpg_zero paired by seed, against a baseline by Welch."""
    with tempfile.TemporaryDirectory() as out:
        def run(name, algorithm, epsilon, seed, welfare):
            write_run(out, name, algorithm, epsilon, seed, [0.1, 0.2])
            path = os.path.join(out, name, "summary.json")
            summary = json.load(open(path))
            summary.update(social_welfare=welfare, train_seconds=100.0, evaluation_seconds=20.0)
            json.dump(summary, open(path, "w"))
        for seed, zero, bpg in ((1, 100, 110), (2, 200, 230), (3, 300, 330)):
            run(f"t1-bpg_zero-e0.08-s{seed}", "bpg_zero", 0.08, seed, zero)
            run(f"t1-bpg-e0.08-s{seed}", "bpg", 0.08, seed, bpg)
            run(f"t1-independent-s{seed}", "independent", None, seed, zero)
        run_learning_report(out)
        rows = open(os.path.join(out, "table1-comparisons.md")).read().splitlines()
        paired = [r for r in rows if r.startswith("| bpg ε=0.08 − bpg_zero ε=0.08")]
        # Differences 10, 30, 30: mean 23.3, std 11.5, t = 23.33 / (11.55 / √3) = 3.50; exploitability equal.
        expect(len(paired) == 1 and "3 paired | +23.3 ± 11.5 | t=3.50" in paired[0], str(rows))
        expect(paired[0].endswith("+0.0000 ± 0.0000 | t=0.00 p=1.000 |"), paired[0])
        welch = [r for r in rows if r.startswith("| bpg ε=0.08 − independent")]
        # Means 223.3 and 200; variances 12033 and 10000 over 3 each: t = 23.33 / √(7344) = 0.27.
        expect(len(welch) == 1 and "3 vs 3 | +23.3 | t=0.27" in welch[0], str(rows))
        # The cost: 9 runs of 120 s each, no command.txt (binary unrecorded).
        cost = open(os.path.join(out, "table1-cost.md")).read()
        expect("| unrecorded | 9 | 120 ± 0 | 120 ± 0 | 0.30 |" in cost, cost)
        expect("| all | 9 (+ 0 recorded as the same run) | | | 0.30 (0.15 h with two jobs) |" in cost, cost)


def case_report_constraint():
    """table1-constraint.md: x*'s largest gain / SW over the last refresh (2 iterations at N = 100: the dual
    batch measures 64 agents an iteration) against the evaluated max exploitability, paired by run."""
    with tempfile.TemporaryDirectory() as out:
        def run(seed, welfare, gains, evaluated):
            name = f"t1-bpg-e0.08-s{seed}"
            os.makedirs(os.path.join(out, name))
            with open(os.path.join(out, name, "train.csv"), "w") as f:
                f.write("iteration,social_welfare,lambda_bar,unified_gain_max,seconds\n")
                for k, g in enumerate(gains):
                    f.write(f"{k + 1},{welfare},0,{g},1.0\n")
            json.dump({"algorithm": "bpg", "epsilon": 0.08, "seed": seed, "agents": 100, "social_welfare": welfare,
                       "max_exploitability": evaluated, "max_exploitability_high": evaluated, "revenue": 1.0},
                      open(os.path.join(out, name, "summary.json"), "w"))
        run(1, 1000.0, [10, 90, 50], 0.10)  # seen 0.01, 0.09, 0.05: end max(0.09, 0.05) = 0.09 > ε; ratio 0.9
        run(2, 2000.0, [20, 40, 60], 0.05)  # seen 0.01, 0.02, 0.03: end 0.03; ratio 0.6
        run_learning_report(out)
        rows = [r for r in open(os.path.join(out, "table1-constraint.md")).read().splitlines() if r.startswith("| bpg |")]
        # Differences x* − evaluated: −0.01, −0.02: mean −0.015, std 0.00707, t = −0.015 / (0.00707 / √2) = −3.00.
        # One of the 6 iterations saw more than ε (0.09).
        expect(rows == ["| bpg | 0.08 | 2 | 0.0750 ± 0.0354 | 0.0600 ± 0.0424 | 0.75 (0.60–0.90) | t=-3.00 p="
                        + rows[0].split("p=")[1].split(" ")[0] + " | 1 of 2 | 17% |"], str(rows))


def case_report_common():
    from report_common import bpg_environments_per_iteration, mean_std
    expect(mean_std([]) == "–", "no values")
    expect(mean_std([1.0], 1) == "1.0 ± 0.0", mean_std([1.0], 1))
    expect(mean_std([1.0, 3.0], 2) == "2.00 ± 1.41", mean_std([1.0, 3.0], 2))
    expect(mean_std([1.0, 3.0], 1, signed=True) == "+2.0 ± 1.4", mean_std([1.0, 3.0], 1, signed=True))
    # bpg-100 defaults: 32 envs, 2 x* steps, 4 dual envs per agent, cap 256 → 64 agents measured per iteration:
    # 32 + 2·2·32 + 2·256 (+ 2·32 when λ̄ > 0).
    expect(bpg_environments_per_iteration(32, 100, 2, 4, 256, False) == 672, "bpg-100, λ̄ = 0")
    expect(bpg_environments_per_iteration(32, 100, 2, 4, 256, True) == 736, "bpg-100, λ̄ > 0")
    # bpg-10: the cap does not bind (10 agents · 8 envs = 80 ≤ 256).
    expect(bpg_environments_per_iteration(32, 10, 4, 8, 256, True) == 32 + 256 + 160 + 64, "bpg-10")


run_case(globals(), CASE)
