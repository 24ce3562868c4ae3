#!/usr/bin/env python3
"""The 10^3..10^6-agent scaling study: bidsim simulate and one-to-two training iterations on
bench/scaling.yaml, each on 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread.

    bench/scaling.py [BIDSIM] [OUT_DIR] [--simulate-only]   (defaults: build/tools/bidsim, results/scaling)

Writes OUT_DIR/scaling.csv (one row per run), scaling.json (the rows plus the machine from
/proc/cpuinfo and /proc/meminfo, the commit, the commands, the load average around each run) and
scaling.svg (agent-steps/s against N, drawn by tools/bidsim_plot.py with matplotlib: run it with
/usr/bin/python3; without matplotlib the figure is skipped with a note)."""
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIMULATE_ONLY = "--simulate-only" in sys.argv  # the quick part (a few minutes), e.g. to re-measure on an idle machine
ARGS = [a for a in sys.argv[1:] if a != "--simulate-only"]
BIDSIM = ARGS[0] if len(ARGS) > 0 else os.path.join(ROOT, "build", "tools", "bidsim")
OUT = ARGS[1] if len(ARGS) > 1 else os.path.join(ROOT, "results", "scaling")
SCENARIO = os.path.join(ROOT, "bench", "scaling.yaml")
K = 16  # candidates per impression (bench/scaling.yaml)

# (agents, envs, steps, impressions per step): about 10^7-10^8 bid evaluations per simulate run.
SIMULATE = [(10**3, 8, 12, 10**4), (10**4, 8, 12, 10**4), (10**5, 4, 8, 10**5), (10**6, 2, 4, 10**6)]
# Training: BPG needs a dual batch of N x dual_envs_per_agent environments of N agents each (eq. 13),
# O(N^2) memory, so it runs at N = 10^3; above, `independent` times the same rollout + gradient path.
TRAIN = [("bpg", 10**3, 2, 4, 10**3, 2), ("independent", 10**4, 2, 4, 10**4, 2),
         ("independent", 10**5, 2, 2, 10**5, 1), ("independent", 10**6, 2, 2, 10**6, 1)]
LAYOUTS = [(1, 1), (1, 2), (2, 1)]  # (ranks, threads per rank)


def launcher(ranks):
    if ranks == 1:
        return []
    return ["mpirun", "--allow-run-as-root", "--oversubscribe", "-q", "-np", str(ranks)]


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="passive",
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    before = loadavg()
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.time() - start
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, before, loadavg()


def market(n, envs, steps, m):
    return [SCENARIO, "--set", f"agents.count={n}", "--set", f"market.envs={envs}", "--set", f"market.steps={steps}",
            "--set", f"impressions.per_step={m}"]


def machine():
    info = {"platform": platform.platform(), "cpus": os.cpu_count()}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    return info


def simulate_rows(work):
    rows = []
    for n, envs, steps, m in SIMULATE:
        for ranks, threads in LAYOUTS:
            out = os.path.join(work, f"sim-{n}-{ranks}x{threads}")
            cmd = launcher(ranks) + [BIDSIM, "simulate", *market(n, envs, steps, m), "--threads", str(threads),
                                     "--quiet", "--out", out]
            wall, load0, load1 = run(cmd, threads)
            with open(os.path.join(out, "summary.json")) as f:
                s = json.load(f)
            seconds = s["seconds"]
            rows.append({"kind": "simulate", "algorithm": "", "agents": n, "envs": envs, "steps": steps,
                         "impressions_per_step": m, "ranks": ranks, "threads_per_rank": threads,
                         "seconds": seconds, "wall_seconds": round(wall, 2),
                         "agent_steps_per_s": envs * n * steps / seconds,
                         "bid_evaluations_per_s": s["impressions"] * envs * K / seconds,
                         "auction_passes_per_step": s["auction_passes_per_step"],
                         "peak_memory_mb_per_rank": s["peak_memory_mb_per_rank"],
                         "iteration_seconds": None, "load_before": load0, "load_after": load1,
                         "command": " ".join(cmd)})
            print(f"simulate N={n:>7} ranks={ranks} threads={threads}: {rows[-1]['agent_steps_per_s']:.3g} agent-steps/s, "
                  f"{rows[-1]['bid_evaluations_per_s']:.3g} bids/s, {seconds:.2f} s, "
                  f"peak MB {s['peak_memory_mb_per_rank']}, load {load0:.1f}", flush=True)
    return rows


def train_rows(work):
    rows = []
    for algo, n, envs, steps, m, iterations in TRAIN:
        for ranks, threads in [(1, 1), (2, 1)]:
            out = os.path.join(work, f"train-{algo}-{n}-{ranks}")
            cmd = launcher(ranks) + [BIDSIM, "train", *market(n, envs, steps, m), "--algo", algo, "--iterations",
                                     str(iterations), "--threads", str(threads), "--quiet", "--out", out]
            wall, load0, load1 = run(cmd, threads)
            with open(os.path.join(out, "train.csv")) as f:
                lines = f.read().splitlines()
            header = lines[0].split(",")
            last = dict(zip(header, lines[-1].split(",")))
            with open(os.path.join(out, "summary.json")) as f:
                s = json.load(f)
            seconds = float(last["seconds"])  # the last iteration (the second where two ran: warm caches)
            rows.append({"kind": "train", "algorithm": algo, "agents": n, "envs": envs, "steps": steps,
                         "impressions_per_step": m, "ranks": ranks, "threads_per_rank": threads,
                         "seconds": seconds, "wall_seconds": round(wall, 2), "agent_steps_per_s": None,
                         "bid_evaluations_per_s": None, "auction_passes_per_step": None,
                         "peak_memory_mb_per_rank": s["peak_memory_mb_per_rank"], "iteration_seconds": seconds,
                         "load_before": load0, "load_after": load1, "command": " ".join(cmd)})
            print(f"train {algo} N={n:>7} ranks={ranks}: iteration {seconds:.2f} s, peak MB "
                  f"{s['peak_memory_mb_per_rank']}, load {load0:.1f}", flush=True)
    return rows


def svg(rows, path):
    """agent-steps/s against N, log-log, one line per (ranks, threads) layout: tools/bidsim_plot.py (matplotlib)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import bidsim_plot
    if bidsim_plot.matplotlib is None:
        print(f"{path} not drawn: this Python has no matplotlib (run with /usr/bin/python3)")
        return
    series = {}
    for r in rows:
        if r["kind"] == "simulate":
            ranks, threads = r["ranks"], r["threads_per_rank"]
            label = f"{ranks} rank{'s' if ranks > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
            series.setdefault(label, []).append((r["agents"], r["agent_steps_per_s"]))
    bidsim_plot.log_log_lines(path, "bidsim simulate: agent-steps/s vs agents", "agents N", "agent-steps/s", series)


def main():
    os.makedirs(OUT, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    start = time.time()
    with tempfile.TemporaryDirectory() as work:
        rows = simulate_rows(work) + ([] if SIMULATE_ONLY else train_rows(work))
    columns = ["kind", "algorithm", "agents", "envs", "steps", "impressions_per_step", "ranks", "threads_per_rank",
               "seconds", "agent_steps_per_s", "bid_evaluations_per_s", "auction_passes_per_step", "iteration_seconds",
               "peak_memory_mb_per_rank", "load_before", "load_after"]
    with open(os.path.join(OUT, "scaling.csv"), "w") as f:
        f.write(",".join(columns) + "\n")
        for r in rows:
            cells = []
            for c in columns:
                v = r[c]
                cells.append(" ".join(str(round(x)) for x in v) if isinstance(v, list) else ("" if v is None else str(v)))
            f.write(",".join(cells) + "\n")
    report = {"machine": machine(), "commit": commit, "command": " ".join(sys.argv), "bidsim": BIDSIM,
              "scenario": "bench/scaling.yaml", "candidates_per_impression": K, "study_wall_seconds": round(time.time() - start),
              "notes": "bid evaluations = impressions x K candidates (first auction pass); train seconds = the last "
                       "iteration in train.csv; load_* = 1-minute load average around each run (shared machine)",
              "rows": rows}
    with open(os.path.join(OUT, "scaling.json"), "w") as f:
        json.dump(report, f, indent=2)
    svg(rows, os.path.join(OUT, "scaling.svg"))
    print(f"wrote {OUT}/scaling.csv, scaling.json, scaling.svg in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
