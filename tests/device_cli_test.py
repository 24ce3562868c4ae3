#!/usr/bin/env python3
"""CLI checks of the CUDA backend's device counters (issue 15 item 4), one case per CTest test:
device_cli_test.py BIDSIM SOURCE_DIR CASE. Emulation build only (cuda/emulation/): `bidsim simulate
--device cuda --out DIR` writes summary.json's device_counters (per step: values, mean, max; totals
inside and outside the steps), the human summary prints one `device` line, and the CPU backend
writes none."""
import json
import os
import sys
import tempfile

from case_driver import expect, run_case, run_command

BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
DEFAULT = os.path.join(SOURCE, "scenarios", "default.yaml")
FIELDS = ["kernel_launches", "cub_calls", "memsets", "host_synchronizations", "h2d_copies", "h2d_bytes",
          "d2h_copies", "d2h_bytes"]


def simulate(device, out):
    args = ["simulate", DEFAULT, "--set", "market.envs=2", "--device", device, "--out", out]
    code, stdout, err = run_command(BIDSIM, *args, timeout=600)
    print("$ bidsim", " ".join(args), "->", code, err)
    expect(code == 0, f"exit status {code}: {err}")
    with open(os.path.join(out, "summary.json")) as f:
        return stdout, json.load(f)


def case_simulate_device_counters():
    with tempfile.TemporaryDirectory() as tmp:
        stdout, summary = simulate("cuda", os.path.join(tmp, "cuda"))
        expect("device_counters" in summary, "summary.json has no device_counters")
        c = summary["device_counters"]
        steps = summary["steps"]
        expect(c["steps"] == steps, f"device_counters.steps = {c['steps']}, expected {steps}")
        for name in FIELDS:
            row = c["per_step"][name]
            values = row["values"]
            expect(len(values) == steps, f"{name}: {len(values)} per-step values, expected {steps}")
            expect(row["max"] == max(values), f"{name}: max {row['max']} is not the largest value")
            expect(abs(row["mean"] - sum(values) / steps) <= 1e-9 * max(1, abs(row["mean"])), f"{name}: mean")
            expect(c["steps_total"][name] == sum(values), f"{name}: steps_total is not the sum of the steps")
            expect(c["total"][name] == c["steps_total"][name] + c["outside_steps"][name],
                   f"{name}: total is not inside + outside the steps")
        per_step = c["per_step"]
        expect(min(per_step["kernel_launches"]["values"]) > 0, "a step launched no kernel")
        # Host policies: every step uploads the E x N float multipliers (2 envs here) and nothing else.
        agents = summary["agents"]
        expect(per_step["h2d_copies"]["values"] == [1] * steps, "one multiplier upload per step")
        expect(per_step["h2d_bytes"]["values"] == [4 * 2 * agents] * steps, "multiplier bytes per step")
        # The host reads the state after every step (outside the steps): one copy set per step.
        expect(c["outside_steps"]["host_synchronizations"] >= steps, "the state copies synchronize")
        lines = [line for line in stdout.splitlines() if line.strip().startswith("device ")]
        expect(len(lines) == 1 and "kernel launches" in lines[0] and "host syncs" in lines[0],
               f"one `device` line in the summary, got {lines}")
        _, cpu = simulate("cpu", os.path.join(tmp, "cpu"))
        expect("device_counters" not in cpu, "the CPU backend reports device counters")


if __name__ == "__main__":
    run_case(globals(), CASE)
