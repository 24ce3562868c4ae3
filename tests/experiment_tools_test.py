#!/usr/bin/env python3
"""The experiment scripts' shared parts (tools/experiment_runs.sh, tools/report_common.py), one case per CTest
test: experiment_tools_test.py SOURCE_DIR CASE. A stand-in program plays bidsim, so no run costs anything."""
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
