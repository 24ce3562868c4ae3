#!/usr/bin/env python3
"""Multi-process checks for `bidsim` under MPI, one case per CTest test:
mpi_test.py MPIEXEC BIDSIM SOURCE_DIR CASE.

`-np 2` must give the same results as `-np 1` (every random draw is keyed by the global environment
index and every reduction runs in env order), rank 0 alone writes, and a bad launch fails with exit
status 2 and one line. Standard library only."""
import json
import os
import subprocess
import sys
import tempfile

from case_driver import expect, run_case

MPIEXEC, BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
DEFAULT = os.path.join(SOURCE, "scenarios", "default.yaml")
BPG10 = os.path.join(SOURCE, "scenarios", "bpg-10.yaml")
TINY = ["--set", "market.envs=4", "--set", "market.steps=3", "--set", "impressions.per_step=20",
        "--set", "learning.best_response.steps=2", "--set", "learning.best_response.envs_per_agent=2",
        "--set", "learning.best_response.eval_envs_per_agent=2", "--set", "learning.dual_envs_per_agent=1"]
# Keys that measure wall time or memory per rank, the only ones allowed to differ between rank counts.
TIMING = {"seconds", "train_seconds", "evaluation_seconds", "peak_memory_mb_per_rank"}


def launcher_flags():
    version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True).stdout
    # Open MPI: run as root in CI containers, more ranks than cores, no help banners on a failed rank.
    open_mpi = any(mark in version for mark in ("Open MPI", "OpenRTE", "open-mpi.org"))
    return ["--allow-run-as-root", "--oversubscribe", "-q"] if open_mpi else []


def env():
    e = dict(os.environ)
    # One OpenMP / LibTorch thread per rank (2-core CI machines), passive waits, and no cross-memory
    # attach (often forbidden in containers) for Open MPI's shared-memory transport.
    e.update({"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive",
              "OMPI_MCA_btl_vader_single_copy_mechanism": "none"})
    return e


def run(ranks, *args):
    cmd = [MPIEXEC, *launcher_flags(), "-np", str(ranks), BIDSIM, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env=env())
    print("$", " ".join(cmd), "->", proc.returncode)
    return proc.returncode, proc.stdout, proc.stderr


def summary(out_dir):
    path = os.path.join(out_dir, "summary.json")
    expect(os.path.isfile(path), f"no {path}")
    with open(path) as f:
        j = json.load(f)
    return {k: v for k, v in j.items() if k not in TIMING}


def same_json(a, b, what):
    sa, sb = summary(a), summary(b)
    for key in sorted(set(sa) | set(sb)):
        expect(sa.get(key) == sb.get(key), f"{what}: summary.json key {key!r} differs between 1 and 2 ranks")


def csv_without_column(path, column):
    with open(path) as f:
        rows = [line.split(",") for line in f.read().splitlines()]
    k = rows[0].index(column)
    return [r[:k] + r[k + 1:] for r in rows]


def case_simulate_ranks():
    with tempfile.TemporaryDirectory() as d:
        one, two = os.path.join(d, "np1"), os.path.join(d, "np2")
        # 5 environments: uneven blocks (3 + 2); deviations and PID pacing are per environment.
        args = ["simulate", DEFAULT, "--set", "market.envs=5", "--set", "impressions.per_step=500",
                "--set", "deviations=[{env: 4, agent: 0, policy: paced}]"]
        code, out1, err = run(1, *args, "--out", one)
        expect(code == 0, f"-np 1 exit status {code}: {err}")
        code, out2, err = run(2, *args, "--out", two)
        expect(code == 0, f"-np 2 exit status {code}: {err}")
        print(out2)
        same_json(one, two, "simulate")
        expect(summary(two)["envs"] == 5, "envs of the whole batch")
        with open(os.path.join(one, "steps.csv")) as f, open(os.path.join(two, "steps.csv")) as g:
            expect(f.read() == g.read(), "steps.csv differs between 1 and 2 ranks")
        expect(out2.count("bidsim simulate:") == 1, "the human summary must be printed once (rank 0)")
        expect("2 MPI ranks" in out2, "the summary names the rank count")


def case_train_ranks():
    with tempfile.TemporaryDirectory() as d:
        one, two, resumed = (os.path.join(d, x) for x in ("np1", "np2", "resumed"))
        code, _, err = run(1, "train", BPG10, *TINY, "--iterations", "3", "--out", one, "--quiet")
        expect(code == 0, f"-np 1 train exit status {code}: {err}")
        code, out, err = run(2, "train", BPG10, *TINY, "--iterations", "3", "--out", two, "--quiet")
        expect(code == 0, f"-np 2 train exit status {code}: {err}")
        expect(out.count("social_welfare") == 1, "rank 0 alone prints")
        same_json(one, two, "train")
        expect(csv_without_column(os.path.join(one, "train.csv"), "seconds") ==
               csv_without_column(os.path.join(two, "train.csv"), "seconds"), "train.csv differs between 1 and 2 ranks")
        expect(sorted(os.listdir(two)) == ["checkpoint.pt", "summary.json", "train.csv"],
               f"unexpected files in --out: {sorted(os.listdir(two))}")
        # Two ranks resume a one-rank checkpoint: the same as 4 straight iterations on one rank.
        code, _, err = run(2, "train", BPG10, *TINY, "--iterations", "4", "--resume",
                           os.path.join(one, "checkpoint.pt"), "--out", one, "--quiet")
        expect(code == 0, f"-np 2 resume exit status {code}: {err}")
        code, _, err = run(1, "train", BPG10, *TINY, "--iterations", "4", "--out", resumed, "--quiet")
        expect(code == 0, f"-np 1 straight run exit status {code}: {err}")
        expect(csv_without_column(os.path.join(one, "train.csv"), "seconds") ==
               csv_without_column(os.path.join(resumed, "train.csv"), "seconds"),
               "2-rank resume differs from the uninterrupted 1-rank run")
        same_json(one, resumed, "resumed train")
        # evaluate: a checkpoint and a built-in policy, 1 vs 2 ranks.
        for label, args in (("checkpoint", [os.path.join(two, "checkpoint.pt")]),
                            ("builtin", ["--policy", "scenario", BPG10, *TINY])):
            e1, e2 = os.path.join(d, label + "1"), os.path.join(d, label + "2")
            for ranks, out_dir in ((1, e1), (2, e2)):
                code, _, err = run(ranks, "evaluate", *args, "--out", out_dir, "--quiet")
                expect(code == 0, f"-np {ranks} evaluate {label} exit status {code}: {err}")
            same_json(e1, e2, "evaluate " + label)


def case_rollout_ranks():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ds")
        code, stdout, err = run(2, "rollout", DEFAULT, "--set", "market.envs=3", "--set", "impressions.per_step=200",
                                "--out", out)
        print(stdout, err)
        expect(code == 0, f"-np 2 rollout exit status {code}: {err}")
        expect(sorted(os.listdir(out)) == ["rollout-rank0.h5", "rollout-rank1.h5"], f"files: {os.listdir(out)}")
        expect(stdout.count("bidsim rollout:") == 1 and "2 rank(s)" in stdout, "rank 0 reports once, naming 2 ranks")


def case_bad_launch():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        for command in (["simulate", DEFAULT, "--set", "market.envs=2"], ["train", BPG10, *TINY, "--set", "market.envs=2"]):
            code, _, err = run(3, *command, "--out", out)
            print("stderr:", err, end="")
            expect(code == 2, f"{command[0]}: exit status {code}, expected 2")
            lines = [line for line in err.splitlines() if line.strip()]
            expect(len(lines) == 1, f"{command[0]}: {len(lines)} stderr lines, expected one (rank 0 reports)")
            for fragment in ("market.envs", "3 MPI ranks", "at most 2 ranks"):
                expect(fragment in lines[0], f"{command[0]}: the error does not say {fragment!r}")
            expect(not os.path.exists(out), f"{command[0]}: a failed launch must not create --out")


if __name__ == "__main__":
    run_case(globals(), CASE)
