"""What a Python step costs over the C++ step (issue 16 target: <= 5 us at E = 64, N = 48).

Both loops run in this one process, side by side, on the same Market kind: `count` steps with fixed
multipliers stepped from C++ (Market._run_steps_in_cpp, GIL released) against the same steps from a
Python loop calling Market.step (argument check, finiteness check, GIL release) plus reading the
reward view, as a training loop would. Repeated; reports medians and writes JSON.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py [OUT.json]
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import bidsim

ENVS, AGENTS, IMPRESSIONS, STEPS_PER_EPISODE = 64, 48, 1, 12
COUNT, REPEATS = 4000, 9


def make_market():
    return bidsim.Market("bpg-10", overrides={"market.envs": ENVS, "agents.count": AGENTS,
                                              "impressions.per_step": IMPRESSIONS, "market.steps": STEPS_PER_EPISODE},
                         seed=1, device="cpu", threads=1)


def python_loop(market, multipliers, count):
    total = 0.0
    for _ in range(count):
        if market.done:
            market.reset()
        market.step(multipliers)
        total += market.step_reward[0, 0]
    return total


def main():
    multipliers = np.full((ENVS, AGENTS), 0.8, dtype=np.float32)
    cpp_market, py_market = make_market(), make_market()
    py_market.reset()
    cpp_market._run_steps_in_cpp(multipliers, 100)     # warm both
    python_loop(py_market, multipliers, 100)
    cpp_seconds, py_seconds = [], []
    for _ in range(REPEATS):                           # interleaved, so load changes hit both alike
        start = time.perf_counter()
        cpp_market._run_steps_in_cpp(multipliers, COUNT)
        cpp_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        python_loop(py_market, multipliers, COUNT)
        py_seconds.append(time.perf_counter() - start)
    cpp_us = statistics.median(cpp_seconds) / COUNT * 1e6
    py_us = statistics.median(py_seconds) / COUNT * 1e6
    overheads = [(p - c) / COUNT * 1e6 for p, c in zip(py_seconds, cpp_seconds)]
    result = {
        "benchmark": "python step overhead",
        "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "command": " ".join(sys.argv),
        "envs": ENVS, "agents": AGENTS, "impressions_per_step": IMPRESSIONS, "steps": COUNT, "repeats": REPEATS,
        "cpp_step_us_median": cpp_us, "python_step_us_median": py_us,
        "overhead_us_median": statistics.median(overheads),
        "overhead_us_min": min(overheads), "overhead_us_max": max(overheads),
        "python_over_cpp_ratio": py_us / cpp_us,
    }
    print(f"E = {ENVS}, N = {AGENTS}: C++ step {cpp_us:.2f} us, Python step {py_us:.2f} us, "
          f"overhead {result['overhead_us_median']:.2f} us (median of {REPEATS}; range "
          f"{result['overhead_us_min']:.2f}..{result['overhead_us_max']:.2f})")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
