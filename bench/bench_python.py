"""What a Python step costs over the C++ step (issue 16 target: <= 5 us at E = 64, N = 48).

Two measurements, side by side in one run, on the same Market kind (bpg-10 with E = 64, N = 48 and
one impression per step, so the engine's own step is as small as it gets and the overhead shows):
- time: `count` steps with fixed multipliers stepped from C++ (Market._run_steps_in_cpp, GIL released)
  against the same steps from a Python loop, interleaved repeats, medians. On a shared machine the
  spread is larger than the overhead; the figure is only meaningful on an idle core.
- instructions (--instructions, needs valgrind): callgrind counts of a process running 12 steps and
  one running 252, for the C++ loop, a Python loop of bare `step()` calls, and a training-style loop
  that also reads `done` and a reward view; the difference over 240 steps is the per-step count,
  which does not depend on the machine's load. Converted to time at the C++ step's own rate
  (instructions per second of the timed C++ loop).

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py [--instructions] [OUT.json]
"""
import json
import os
import platform
import re
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


def run_loop(kind, market, multipliers, count):
    if kind == "cpp":
        market._run_steps_in_cpp(multipliers, count)
    elif kind == "step":                               # bare step() calls
        for i in range(count):
            if market.done:
                market.reset()
            market.step(multipliers)
    else:                                              # "loop": as a training loop reads its results
        total = 0.0
        for _ in range(count):
            if market.done:
                market.reset()
            market.step(multipliers)
            total += market.step_reward[0, 0]


def instructions(kind):
    """Per-step instructions of one loop kind: callgrind totals at 252 and 12 steps, over 240."""
    totals = []
    for count in (12, 252):
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                              os.path.abspath(__file__), "--run", kind, str(count)],
                             capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1")).stderr
        totals.append(int(re.search(r"Collected : (\d+)", out).group(1)))
    return (totals[1] - totals[0]) / 240


def main(argv):
    if argv[:1] == ["--run"]:                          # one loop, for callgrind
        market = make_market()
        market.reset()
        run_loop(argv[1], market, np.full((ENVS, AGENTS), 0.8, dtype=np.float32), int(argv[2]))
        return
    count_instructions = "--instructions" in argv
    argv = [a for a in argv if a != "--instructions"]
    multipliers = np.full((ENVS, AGENTS), 0.8, dtype=np.float32)
    cpp_market, py_market = make_market(), make_market()
    cpp_market.reset(), py_market.reset()
    run_loop("cpp", cpp_market, multipliers, 100)      # warm both
    run_loop("loop", py_market, multipliers, 100)
    cpp_seconds, py_seconds = [], []
    for _ in range(REPEATS):                           # interleaved, so load changes hit both alike
        start = time.perf_counter()
        run_loop("cpp", cpp_market, multipliers, COUNT)
        cpp_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_loop("loop", py_market, multipliers, COUNT)
        py_seconds.append(time.perf_counter() - start)
    cpp_us = statistics.median(cpp_seconds) / COUNT * 1e6
    py_us = statistics.median(py_seconds) / COUNT * 1e6
    overheads = [(p - c) / COUNT * 1e6 for p, c in zip(py_seconds, cpp_seconds)]
    result = {
        "benchmark": "python step overhead (bench/bench_python.py)",
        "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "envs": ENVS, "agents": AGENTS, "impressions_per_step": IMPRESSIONS, "steps": COUNT, "repeats": REPEATS,
        "time": {"cpp_step_us_median": cpp_us, "python_loop_step_us_median": py_us,
                 "overhead_us_median": statistics.median(overheads),
                 "overhead_us_min": min(overheads), "overhead_us_max": max(overheads)},
    }
    print(f"time: E = {ENVS}, N = {AGENTS}: C++ step {cpp_us:.2f} us, Python loop step {py_us:.2f} us, overhead "
          f"{result['time']['overhead_us_median']:.2f} us (median of {REPEATS}; range "
          f"{result['time']['overhead_us_min']:.2f}..{result['time']['overhead_us_max']:.2f})")
    if count_instructions:
        counts = {kind: instructions(kind) for kind in ("cpp", "step", "loop")}
        rate = counts["cpp"] / (min(cpp_seconds) / COUNT)   # the C++ step's instructions per second, best repeat
        result["instructions"] = {
            "cpp_step": counts["cpp"], "python_step": counts["step"], "python_loop": counts["loop"],
            "step_overhead": counts["step"] - counts["cpp"], "loop_overhead": counts["loop"] - counts["cpp"],
            "cpp_instructions_per_ns": rate * 1e-9,
            "step_overhead_us_at_cpp_rate": (counts["step"] - counts["cpp"]) / rate * 1e6,
            "loop_overhead_us_at_cpp_rate": (counts["loop"] - counts["cpp"]) / rate * 1e6}
        i = result["instructions"]
        print(f"instructions per step: C++ {i['cpp_step']:.0f}, step() {i['python_step']:.0f} "
              f"(+{i['step_overhead']:.0f}), training loop {i['python_loop']:.0f} (+{i['loop_overhead']:.0f}); at the "
              f"C++ step's {i['cpp_instructions_per_ns']:.2f} instructions/ns: step() +{i['step_overhead_us_at_cpp_rate']:.2f} us, "
              f"loop +{i['loop_overhead_us_at_cpp_rate']:.2f} us")
    if argv:
        with open(argv[0], "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
