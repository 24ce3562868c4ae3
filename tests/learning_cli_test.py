#!/usr/bin/env python3
"""Command-line checks of `bidsim train` for issue 13 (BPG): learning_cli_test.py BIDSIM SOURCE_DIR CASE.

Non-finite flags are refused with one stderr line and exit status 2 (issue 17); train.csv carries the
ξ rule and the dual-measurement columns, and ξ/λ̄ > 1 in every iteration where λ̄ > 0."""
import csv
import os
import sys
import tempfile

from case_driver import expect, expect_one_line_usage_error, run_case, run_command

BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
BPG10 = os.path.join(SOURCE, "scenarios", "bpg-10.yaml")
TINY = ["--set", "market.envs=4", "--set", "market.steps=2", "--set", "impressions.per_step=10",
        "--set", "learning.best_response.steps=2", "--set", "learning.best_response.envs_per_agent=2",
        "--set", "learning.best_response.eval_envs_per_agent=2", "--set", "learning.dual_envs_per_agent=2"]


def run(*args):
    return run_command(BIDSIM, *args)


def expect_usage_error(args, *fragments):
    expect_one_line_usage_error(BIDSIM, args, *fragments)


def case_train_non_finite_flags():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        for flag, values in (("--epsilon", ("nan", "inf", "-inf", "-0.1", "1e400", "0.1x")), ("--xi", ("nan", "inf"))):
            for value in values:
                # A leading '-' may be read as another option: then only the flag is named.
                named = (flag,) if value.startswith("-") else (flag, value)
                expect_usage_error(["train", BPG10, flag, value, "--out", out], *named)
        expect_usage_error(["train", BPG10, "--set", "learning.xi_margin=nan", "--out", out], "learning.xi_margin")
        expect_usage_error(["train", BPG10, "--set", "learning.xi_margin=0", "--out", out], "learning.xi_margin")
        expect_usage_error(["train", BPG10, "--set", "learning.optimizer=rmsprop", "--out", out], "learning.optimizer")
        expect_usage_error(["train", BPG10, "--set", "learning.unified_solution_steps=0", "--out", out],
                           "learning.unified_solution_steps")
        expect_usage_error(["train", BPG10, "--set", "learning.dual_envs_per_agent=nan", "--out", out],
                           "learning.dual_envs_per_agent")
        expect(not os.path.exists(out), "a failing train created its output directory")


def case_train_xi_rule_logged():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        code, stdout, err = run("train", BPG10, *TINY, "--epsilon", "0", "--iterations", "3", "--out", out)
        print(stdout, err)
        expect(code == 0, f"train exit status {code}")
        with open(os.path.join(out, "train.csv")) as f:
            rows = list(csv.DictReader(f))
        expect(len(rows) == 3, "three rows")
        for key in ("xi", "xi_over_lambda_bar", "unified_gain_mean", "unified_gain_max", "lambda_se_mean",
                    "lambda_se_max", "lambda_positive", "norm_step"):
            expect(key in rows[0], f"train.csv lacks {key}")
        margin = 0.5  # learning.xi_margin's default
        for r in rows:
            if float(r["lambda_bar"]) > 0:
                expect(float(r["xi_over_lambda_bar"]) >= 1 + margin - 1e-9, f"xi/lambda_bar {r['xi_over_lambda_bar']}")
            expect(float(r["lambda_se_mean"]) >= 0, "standard error of lambda")
        expect(any(float(r["lambda_bar"]) > 0 for r in rows), "epsilon 0: the constraint never bound")
        expect("ETA" in stdout, "no ETA in the training progress")


if __name__ == "__main__":
    run_case(globals(), CASE)
