#!/usr/bin/env python3
"""The Table-1 sweep's RUN_UNLESS hook (tools/experiment_runs.sh): shows that a bpg / bpg_zero run is the same
run as one already finished, so that it is recorded instead of rerun.

usage (with OUT set, as the runner calls it): table1_same_run.py DIR ARGS...
Exit status 0 after writing OUT/DIR/same_run.json when a finished run of the same seed, scenario, iteration
count and best-response settings, by bpg or bpg_zero at an ε' ≤ ε, had λ̄ = 0 in every iteration; 1 otherwise
(the run is then made). Why that is the same run: with λ̄ = 0 both algorithms take the step −L1 on the same
draws, and ε enters only through λ_i = [gain_i − ε]_+, which stays 0 for every larger ε along the same
trajectory; the evaluation uses the same seed and draws (tested bit for bit in tests/test_rl.cpp, "an
unconstrained run is the same run for bpg and bpg_zero at every larger ε"). Only `complies` depends on ε: the
report recomputes it from the shared interval."""
import csv
import json
import os
import re
import sys

NAME = re.compile(r"t1-(bpg|bpg_zero)-e([0-9.]+)-s(\d+)")
# --set keys of the sweep's command line and the summary.json best_response fields they become.
BEST_RESPONSE_KEYS = {"steps": "max_steps", "envs_per_agent": "envs_per_agent",
                      "selection_envs_per_agent": "selection_envs_per_agent",
                      "eval_envs_per_agent": "eval_envs_per_agent"}


def command_settings(args):
    """(scenario, iterations, {best_response field: value}) of a `bidsim train ...` argument list."""
    scenario = args[1] if len(args) > 1 and args[0] == "train" else None
    iterations, best_response = None, {}
    for flag, value in zip(args, args[1:]):
        if flag == "--iterations":
            iterations = int(value)
        elif flag == "--set" and value.startswith("learning.best_response."):
            key, _, number = value[len("learning.best_response."):].partition("=")
            if key in BEST_RESPONSE_KEYS:
                best_response[BEST_RESPONSE_KEYS[key]] = int(number)
    return scenario, iterations, best_response


def unconstrained_twin(out, seed, epsilon, scenario, iterations, best_response):
    """A finished run that stands for this one, or None."""
    for name in sorted(os.listdir(out)):
        m = NAME.fullmatch(name)
        if not m or m.group(3) != seed or float(m.group(2)) > epsilon:
            continue
        summary_path = os.path.join(out, name, "summary.json")
        if not os.path.isfile(summary_path):
            continue
        s = json.load(open(summary_path))
        rows = list(csv.DictReader(open(os.path.join(out, name, "train.csv"))))
        if (s.get("scenario") == scenario and s.get("iterations") == iterations == len(rows)
                and s.get("iterations_lambda_positive") == 0 and all(float(r["lambda_bar"]) == 0 for r in rows)
                and all(s["best_response"].get(k) == v for k, v in best_response.items())):
            return name, s
    return None


def main():
    out, name, args = os.environ["OUT"], sys.argv[1], sys.argv[2:]
    m = NAME.fullmatch(name)
    if not m:
        return 1
    algorithm, epsilon, seed = m.group(1), float(m.group(2)), m.group(3)
    scenario, iterations, best_response = command_settings(args)
    if scenario is None or iterations is None or f"--seed {seed}" not in " ".join(args):
        return 1
    twin = unconstrained_twin(out, seed, epsilon, scenario, iterations, best_response)
    if twin is None:
        return 1
    twin_name, twin_summary = twin
    os.makedirs(os.path.join(out, name), exist_ok=True)
    record = {"same_run_as": twin_name, "algorithm": algorithm, "epsilon": epsilon, "seed": int(seed),
              "why": f"{twin_name} ({twin_summary['algorithm']}, ε = {twin_summary['epsilon']}) had λ̄ = 0 in all "
                     f"{iterations} iterations; with λ̄ = 0, bpg and bpg_zero take the same step and every larger ε "
                     "keeps λ̄ = 0, so this run equals it bit for bit (tests/test_rl.cpp)",
              "command": "bidsim " + " ".join(args)}
    with open(os.path.join(out, name, "same_run.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    return 0


sys.exit(main())
