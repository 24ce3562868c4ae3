"""Mean field from Python: the MESOB paper's auction game solved by bidsim's C++ solvers
(docs/mesob.md, docs/mesob-solvers.md). Results are NumPy arrays and numbers.

    from bidsim import mesob
    eq = mesob.solve("mesob-paper", solver="mf-omo", overrides={"game.horizon": 0})
    eq["exploitability"], eq["welfare"], eq["policy"].shape      # policy: [T+1, S, A]
    front = mesob.pareto("mesob-paper", lambda1=[0.1, 0.5, 0.9], lambda2=[0.1, 0.5, 0.9])
    frontier = mesob.pareto("mesob-paper", method="frontier", budgets=32, overrides={"game.horizon": 0})
    omd = mesob.solve("mesob-paper", solver="omd", tol=1e-8)                 # line-searched step (default)
    al = mesob.solve("mesob-paper", solver="mf-omo", multiplier_every=100)   # augmented Lagrangian
    capped = mesob.solve("mesob-paper", budget=0.01)                        # max F s.t. exploitability <= 0.01
"""
import math
import numbers

import numpy as np

from . import _bidsim
from ._market import _override_texts
from ._paths import SCENARIOS_DIR

_SOLVERS = ("mesob-omo", "mf-omo", "mfc", "omd", "fp", "heuristic")
_OPTIMIZERS = ("armijo", "mirror", "adam", "gradient")
_METHODS = ("lambda", "frontier")


def _settings(solver=None, optimizer=None, lambda1=None, lambda2=None, rho1=None, rho2=None, lr=None, tol=None,
              iterations=None, record_every=None, multiplier_every=None, budget=None):
    """One configuration's solver settings, each checked as the CLI checks its flag."""
    out = {}
    if solver is not None:
        if solver not in _SOLVERS:
            raise _bidsim.UsageError(f"solver: got {solver!r}, expected one of {', '.join(_SOLVERS)}")
        out["solver"] = solver
    if optimizer is not None:
        if optimizer not in _OPTIMIZERS:
            raise _bidsim.UsageError(f"optimizer: got {optimizer!r}, expected one of {', '.join(_OPTIMIZERS)}")
        out["optimizer"] = optimizer
    for name, value, positive in (("lambda1", lambda1, False), ("lambda2", lambda2, False), ("rho1", rho1, False),
                                  ("rho2", rho2, False), ("lr", lr, True), ("tol", tol, False),
                                  ("budget", budget, False)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0 \
                or (positive and value == 0):
            bound = "> 0" if positive else ">= 0"
            raise _bidsim.UsageError(f"{name}: got {value!r}, expected a finite number {bound}")
        out[name] = float(value)
    for name, value in (("iterations", iterations), ("record_every", record_every),
                        ("multiplier_every", multiplier_every)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < 2**31:
            raise _bidsim.UsageError(f"{name}: got {value!r}, expected an integer >= 0")
        out[name] = int(value)
    return out


def _run(scenario, overrides, settings, threads, device):
    return _bidsim._mesob_solve_batch(str(scenario), _override_texts(overrides), settings, int(threads), str(device),
                                      SCENARIOS_DIR)


def solve(scenario="mesob-paper", overrides=None, solver=None, lambda1=None, lambda2=None, rho1=None, rho2=None,
          lr=None, tol=None, iterations=None, optimizer=None, record_every=None, multiplier_every=None, budget=None,
          device="cpu"):
    """Solves one configuration (unset settings come from the scenario's ``solver:`` section).

    ``optimizer``: the step rule, ``armijo`` (default), ``mirror``, ``adam`` or ``gradient``; for ``omd``,
    armijo / mirror pick the step by backtracking on exploitability and gradient / adam keep ``lr``.
    ``multiplier_every``: the OMO solvers' augmented-Lagrangian interval (0: the paper's penalty form).
    ``budget``: mesob-omo only, max F subject to z·d <= budget (``bidsim mesob --budget``).

    Returns a dict: ``policy`` [T+1, S, A], ``exploitability`` (eq. 5), ``welfare`` (F of eq. 7) with
    ``V1``/``V2``/``V3``, ``residual`` (the solver's optimality measure), ``converged``,
    ``iterations_run``, and ``history`` (arrays ``iteration``, ``objective``, ``exploitability``,
    ``welfare``, ``residual`` at the recorded iterations)."""
    settings = _settings(solver, optimizer, lambda1, lambda2, rho1, rho2, lr, tol, iterations, record_every,
                         multiplier_every, budget)
    return _run(scenario, overrides, [settings], 1, device)[0]


def _columns(results):
    out = {key: np.array([r[key] for r in results]) for key in
           ("solver", "lambda1", "lambda2", "budget", "exploitability", "welfare", "residual", "converged",
            "iterations_run")}
    out["policy"] = np.stack([r["policy"] for r in results])
    e, w = out["exploitability"], out["welfare"]
    out["on_front"] = np.array([not np.any((e <= e[k]) & (w >= w[k]) & ((e < e[k]) | (w > w[k])))
                                for k in range(len(results))])
    return out


def pareto(scenario="mesob-paper", lambda1=(0.1, 0.3, 0.5, 0.7, 0.9), lambda2=(0.1, 0.3, 0.5, 0.7, 0.9),
           overrides=None, iterations=None, tol=None, lr=None, optimizer=None, threads=0, device="cpu",
           method="lambda", budgets=32, rho2=None, multiplier_every=None):
    """The welfare / exploitability front, solved as one batch (``bidsim mesob-pareto``).

    ``method="lambda"``: MESOB-OMO on every (λ1, λ2) of the grid (pairs (0, 0) skipped).
    ``method="frontier"``: the ε-constraint sweep, max F subject to exploitability <= ε for ``budgets``
    values of ε, plus MF-OMO with multipliers and mfc as its ends (λ grids ignored; iterations, ρ2 and the
    multiplier interval default to the frontier's 50000, 10 and 100).

    Returns a dict of arrays, one entry per configuration (grid order, or equilibrium end, budgets in
    increasing ε, max-F end): ``solver``, ``lambda1``, ``lambda2``, ``budget`` (-1 where none),
    ``exploitability``, ``welfare``, ``residual``, ``converged``, ``iterations_run``, ``policy``
    [K, T+1, S, A], and ``on_front`` (not dominated in (exploitability low, welfare high))."""
    if method not in _METHODS:
        raise _bidsim.UsageError(f"method: got {method!r}, expected one of {', '.join(_METHODS)}")
    if method == "frontier":
        if isinstance(budgets, bool) or not isinstance(budgets, numbers.Integral) or not 2 <= budgets <= 100000:
            raise _bidsim.UsageError(f"budgets: got {budgets!r}, expected an integer from 2 to 100000")
        base = _settings("mesob-omo", optimizer, None, None, None, rho2, lr, tol, iterations, 0, multiplier_every)
        results = _bidsim._mesob_frontier(str(scenario), _override_texts(overrides), base, int(budgets), int(threads),
                                          str(device), SCENARIOS_DIR)
        return _columns(results)
    grid = [(float(a), float(b)) for a in lambda1 for b in lambda2 if not (a == 0 and b == 0)]
    if not grid:
        raise _bidsim.UsageError("pareto: the λ grid is empty or only (0, 0); expected a positive weight")
    settings = [_settings("mesob-omo", optimizer, a, b, None, rho2, lr, tol, iterations, 0, multiplier_every)
                for a, b in grid]
    return _columns(_run(scenario, overrides, settings, threads, device))
