#!/usr/bin/env python3
"""CLI checks of exact money (engine/core/money.hpp), one case per CTest test:
money_cli_test.py BIDSIM SOURCE_DIR CASE. A scenario whose money sums could overflow int64 is refused
at load with one stderr line naming the file, key, value and expectation, exit status 2."""
import os
import sys
import tempfile

from case_driver import expect, expect_one_line_usage_error, run_case

BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
DEFAULT = os.path.join(SOURCE, "scenarios", "default.yaml")


def expect_refused(args, *fragments):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        expect_one_line_usage_error(BIDSIM, [*args, "--out", out], *fragments)
        expect(not os.path.exists(os.path.join(out, "summary.json")), "summary.json written for a refused scenario")


def case_money_overflow_refused():
    # 10^6 impressions x 24 steps x 2 slots = 4.8e7 slot sales per episode > 2^22.
    expect_refused(["simulate", DEFAULT, "--set", "impressions.per_step=1000000", "--set", "market.envs=1"],
                   "default.yaml", "impressions", "got 48000000", "2^22")
    # A budget above 2^38 money units.
    expect_refused(["simulate", DEFAULT, "--set", "agents.budget=1e12"], "default.yaml", "agents.budget[0]", "got 1000000000000",
                   "2^38")
    # Values that can exceed one amount's range (65536 money units).
    expect_refused(["simulate", DEFAULT, "--set", "agents.value_scale=100000"], "default.yaml",
                   "agents.value_scale", "65536")


run_case(globals(), CASE)
