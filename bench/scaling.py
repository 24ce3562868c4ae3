#!/usr/bin/env python3
"""The 10^3..10^6-agent scaling study: bidsim simulate and one-to-two training iterations on
bench/scaling.yaml, each on 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread.

    bench/scaling.py [BIDSIM] [OUT_DIR] [--simulate-only]   (defaults: build/tools/bidsim, results/scaling)

Writes OUT_DIR/scaling.csv (one row per run), scaling.json (the rows plus the machine from
/proc/cpuinfo and /proc/meminfo, the commit, the commands, the load average around each run) and
scaling.svg (agent-steps/s against N). Standard library only (no matplotlib)."""
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
    """agent-steps/s against N, log-log, one polyline per (ranks, threads) layout."""
    W, H, L, R, T, B = 640, 400, 80, 170, 30, 50
    pts = [r for r in rows if r["kind"] == "simulate"]
    xs = [math.log10(r["agents"]) for r in pts]
    ys = [math.log10(r["agent_steps_per_s"]) for r in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = math.floor(min(ys) * 2) / 2, math.ceil(max(ys) * 2) / 2
    sx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
    sy = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - 60}" y="18" font-size="14">bidsim simulate: agent-steps/s vs agents</text>']
    for e in range(int(x0), int(x1) + 1):
        out.append(f'<line x1="{sx(e)}" y1="{T}" x2="{sx(e)}" y2="{H - B}" stroke="#ddd"/>')
        out.append(f'<text x="{sx(e) - 12}" y="{H - B + 18}">10^{e}</text>')
    y = y0
    while y <= y1 + 1e-9:
        out.append(f'<line x1="{L}" y1="{sy(y)}" x2="{W - R}" y2="{sy(y)}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 60}" y="{sy(y) + 4}">{10 ** y:.2g}</text>')
        y += 0.5
    out.append(f'<text x="{(L + W - R) / 2 - 20}" y="{H - 12}">agents N</text>')
    colors = {(1, 1): "#1f77b4", (1, 2): "#2ca02c", (2, 1): "#d62728"}
    for k, (layout, color) in enumerate(colors.items()):
        line = sorted((r for r in pts if (r["ranks"], r["threads_per_rank"]) == layout), key=lambda r: r["agents"])
        coords = " ".join(f"{sx(math.log10(r['agents'])):.1f},{sy(math.log10(r['agent_steps_per_s'])):.1f}" for r in line)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for r in line:
            out.append(f'<circle cx="{sx(math.log10(r["agents"])):.1f}" cy="{sy(math.log10(r["agent_steps_per_s"])):.1f}" '
                       f'r="3" fill="{color}"/>')
        label = f"{layout[0]} rank{'s' if layout[0] > 1 else ''} x {layout[1]} thread{'s' if layout[1] > 1 else ''}"
        out.append(f'<line x1="{W - R + 10}" y1="{T + 20 + 18 * k}" x2="{W - R + 30}" y2="{T + 20 + 18 * k}" '
                   f'stroke="{color}" stroke-width="2"/><text x="{W - R + 35}" y="{T + 24 + 18 * k}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


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
