"""bidsim.mesob: the C++ solvers from Python, equal to `bidsim mesob`, with the CLI's input checks."""
import json
import math
import subprocess

import numpy as np
import pytest

from bidsim import mesob
import bidsim
from bidsim._paths import SCENARIOS_DIR

ONE_STAGE = {"game.horizon": 0}


def test_solve_returns_a_policy_on_the_simplex_and_its_measures():
    result = mesob.solve("mesob-paper", solver="fp", overrides=ONE_STAGE, iterations=200)
    policy = result["policy"]
    assert policy.shape == (1, 3, 5)
    np.testing.assert_allclose(policy.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    assert np.all(policy >= 0)
    assert result["exploitability"] >= 0 and math.isfinite(result["welfare"])
    assert result["iterations_run"] <= 200
    assert len(result["history"]["iteration"]) == len(result["history"]["residual"]) > 0


def test_solve_equals_bidsim_mesob(tmp_path, bidsim_program):
    subprocess.run([bidsim_program, "mesob", f"{SCENARIOS_DIR}/mesob-paper.yaml", "--set", "game.horizon=0",
                    "--solver", "mf-omo", "--iterations", "300", "--quiet", "--out", str(tmp_path / "m")],
                   check=True, capture_output=True)
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    result = mesob.solve("mesob-paper", solver="mf-omo", overrides=ONE_STAGE, iterations=300)
    assert result["exploitability"] == pytest.approx(summary["exploitability"], rel=1e-12, abs=1e-15)
    assert result["residual"] == pytest.approx(summary["residual"], rel=1e-12, abs=1e-15)
    assert result["converged"] == summary["converged"]


def test_mean_field_control_is_at_least_the_equilibrium_welfare():
    equilibrium = mesob.solve("mesob-paper", solver="fp", overrides=ONE_STAGE, iterations=3000)
    control = mesob.solve("mesob-paper", solver="mfc", overrides=ONE_STAGE)
    assert control["converged"]
    assert control["welfare"] >= equilibrium["welfare"]


def test_pareto_batch_equals_solving_one_by_one():
    front = mesob.pareto("mesob-paper", lambda1=[0, 0.5], lambda2=[0.2, 1.0], overrides=ONE_STAGE, iterations=100)
    assert list(zip(front["lambda1"], front["lambda2"])) == [(0, 0.2), (0, 1.0), (0.5, 0.2), (0.5, 1.0)]
    assert front["policy"].shape == (4, 1, 3, 5)
    single = mesob.solve("mesob-paper", solver="mesob-omo", lambda1=0.5, lambda2=1.0, overrides=ONE_STAGE,
                         iterations=100, record_every=0)
    assert front["exploitability"][3] == single["exploitability"]
    assert np.array_equal(front["policy"][3], single["policy"])
    # on_front: no other point has both lower exploitability and higher welfare
    e, w = front["exploitability"], front["welfare"]
    for k in np.flatnonzero(front["on_front"]):
        assert not np.any((e < e[k]) & (w > w[k]))


@pytest.mark.parametrize("call, kind, fragment", [
    (lambda: mesob.solve(lr=float("nan")), bidsim.UsageError, "lr: got nan"),
    (lambda: mesob.solve(lr=0), bidsim.UsageError, "lr: got 0"),
    (lambda: mesob.solve(lambda1=-1), bidsim.UsageError, "lambda1: got -1"),
    (lambda: mesob.solve(tol=float("inf")), bidsim.UsageError, "tol: got inf"),
    (lambda: mesob.solve(iterations=-3), bidsim.UsageError, "iterations: got -3"),
    (lambda: mesob.solve(solver="newton"), bidsim.UsageError, "solver: got 'newton'"),
    (lambda: mesob.solve(overrides={"game.horizn": 0}), bidsim.ScenarioError, "game.horizn"),
    (lambda: mesob.pareto(lambda1=[0], lambda2=[0]), bidsim.UsageError, "only (0, 0)"),
])
def test_bad_input_is_one_clear_error(call, kind, fragment):
    with pytest.raises(kind) as caught:
        call()
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_omd_line_searched_step_converges_and_the_fixed_step_is_kept():
    line_searched = mesob.solve("mesob-paper", solver="omd", overrides=ONE_STAGE, lr=100.0, tol=1e-8, iterations=3000)
    assert line_searched["converged"] and line_searched["exploitability"] <= 1e-8
    assert np.all(np.diff(line_searched["history"]["exploitability"]) < 0)  # every accepted step lowers it
    fixed = mesob.solve("mesob-paper", solver="omd", optimizer="gradient", overrides=ONE_STAGE, lr=100.0, tol=1e-8,
                        iterations=3000)
    assert not fixed["converged"] and fixed["exploitability"] > 1e-3  # the fixed step cycles at lr 100


def test_multipliers_and_budget_reach_the_equilibrium_and_the_budget():
    plain = mesob.solve("mesob-paper", solver="mf-omo", overrides=ONE_STAGE, iterations=50000, tol=1e-9,
                        multiplier_every=0, record_every=0)
    al = mesob.solve("mesob-paper", solver="mf-omo", overrides=ONE_STAGE, iterations=50000, tol=1e-6, record_every=0)
    assert plain["exploitability"] > 1e-4  # the penalty form stops at a KKT point that is no equilibrium
    assert al["converged"] and al["exploitability"] < 1e-6 and al["multiplier_every"] == 20  # mf-omo's default
    capped = mesob.solve("mesob-paper", overrides=ONE_STAGE, lambda1=1, lambda2=0, rho2=10, budget=0.005,
                         iterations=50000, tol=1e-6, record_every=0)
    assert capped["converged"] and capped["exploitability"] == pytest.approx(0.005, rel=5e-3)


def test_frontier_equals_bidsim_mesob_pareto(tmp_path, bidsim_program):
    subprocess.run([bidsim_program, "mesob-pareto", f"{SCENARIOS_DIR}/mesob-paper.yaml", "--set", "game.horizon=0",
                    "--method", "frontier", "--budgets", "4", "--iterations", "3000", "--quiet",
                    "--out", str(tmp_path / "f")], check=True, capture_output=True)
    points = json.loads((tmp_path / "f" / "summary.json").read_text())["points"]
    front = mesob.pareto("mesob-paper", method="frontier", budgets=4, iterations=3000, overrides=ONE_STAGE)
    assert list(front["solver"]) == ["mf-omo"] + ["mesob-omo"] * 4 + ["mfc"]
    assert front["budget"][0] == -1 and front["budget"][-1] == -1
    assert np.all(np.diff(front["budget"][1:-1]) > 0)
    assert len(points) == 6
    for k, p in enumerate(points):
        assert front["exploitability"][k] == pytest.approx(p["exploitability"], rel=1e-12, abs=1e-15)
        assert front["welfare"][k] == pytest.approx(p["welfare"], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("call, fragment", [
    (lambda: mesob.solve(multiplier_every=-1), "multiplier_every: got -1"),
    (lambda: mesob.solve(budget=float("nan")), "budget: got nan"),
    (lambda: mesob.solve(solver="mfc", budget=0.1), "budget: applies to solver mesob-omo only"),
    (lambda: mesob.solve(optimizer="newton"), "optimizer: got 'newton'"),
    (lambda: mesob.pareto(method="grid"), "method: got 'grid'"),
    (lambda: mesob.pareto(method="frontier", budgets=1), "budgets: got 1"),
])
def test_new_options_refuse_bad_values(call, fragment):
    with pytest.raises(bidsim.UsageError) as caught:
        call()
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
