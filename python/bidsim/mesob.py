"""Mean field from Python: the MESOB paper's auction game solved by bidsim's C++ solvers
(docs/mesob.md, docs/mesob-solvers.md). Results are NumPy arrays and numbers.

    from bidsim import mesob
    eq = mesob.solve("mesob-paper", solver="mf-omo", overrides={"game.horizon": 0})
    eq["exploitability"], eq["welfare"], eq["policy"].shape      # policy: [T+1, S, A]
    front = mesob.pareto("mesob-paper", lambda1=[0.1, 0.5, 0.9], lambda2=[0.1, 0.5, 0.9])
"""
import math
import numbers

import numpy as np

from . import _bidsim
from ._market import _override_texts
from ._paths import SCENARIOS_DIR

_SOLVERS = ("mesob-omo", "mf-omo", "mfc", "omd", "fp", "heuristic")


def _settings(solver=None, optimizer=None, lambda1=None, lambda2=None, rho1=None, rho2=None, lr=None, tol=None,
              iterations=None, record_every=None):
    """One configuration's solver settings, each checked as the CLI checks its flag."""
    out = {}
    if solver is not None:
        if solver not in _SOLVERS:
            raise _bidsim.UsageError(f"solver: got {solver!r}, expected one of {', '.join(_SOLVERS)}")
        out["solver"] = solver
    if optimizer is not None:
        out["optimizer"] = str(optimizer)
    for name, value, positive in (("lambda1", lambda1, False), ("lambda2", lambda2, False), ("rho1", rho1, False),
                                  ("rho2", rho2, False), ("lr", lr, True), ("tol", tol, False)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0 \
                or (positive and value == 0):
            bound = "> 0" if positive else ">= 0"
            raise _bidsim.UsageError(f"{name}: got {value!r}, expected a finite number {bound}")
        out[name] = float(value)
    for name, value in (("iterations", iterations), ("record_every", record_every)):
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
          lr=None, tol=None, iterations=None, optimizer=None, record_every=None, device="cpu"):
    """Solves one configuration (unset settings come from the scenario's ``solver:`` section).

    Returns a dict: ``policy`` [T+1, S, A], ``exploitability`` (eq. 5), ``welfare`` (F of eq. 7) with
    ``V1``/``V2``/``V3``, ``residual`` (the solver's optimality measure), ``converged``,
    ``iterations_run``, and ``history`` (arrays ``iteration``, ``objective``, ``exploitability``,
    ``welfare``, ``residual`` at the recorded iterations)."""
    settings = _settings(solver, optimizer, lambda1, lambda2, rho1, rho2, lr, tol, iterations, record_every)
    return _run(scenario, overrides, [settings], 1, device)[0]


def pareto(scenario="mesob-paper", lambda1=(0.1, 0.3, 0.5, 0.7, 0.9), lambda2=(0.1, 0.3, 0.5, 0.7, 0.9),
           overrides=None, iterations=None, tol=None, lr=None, optimizer=None, threads=0, device="cpu"):
    """MESOB-OMO on every (λ1, λ2) of the grid (pairs (0, 0) skipped), solved as one batch.

    Returns a dict of arrays, one entry per configuration in grid order: ``lambda1``, ``lambda2``,
    ``exploitability``, ``welfare``, ``residual``, ``converged``, ``iterations_run``, ``policy``
    [K, T+1, S, A], and ``on_front`` (not dominated in (exploitability low, welfare high))."""
    grid = [(float(a), float(b)) for a in lambda1 for b in lambda2 if not (a == 0 and b == 0)]
    if not grid:
        raise _bidsim.UsageError("pareto: the λ grid is empty or only (0, 0); expected a positive weight")
    settings = [_settings("mesob-omo", optimizer, a, b, None, None, lr, tol, iterations, 0) for a, b in grid]
    results = _run(scenario, overrides, settings, threads, device)
    out = {key: np.array([r[key] for r in results]) for key in
           ("lambda1", "lambda2", "exploitability", "welfare", "residual", "converged", "iterations_run")}
    out["policy"] = np.stack([r["policy"] for r in results])
    e, w = out["exploitability"], out["welfare"]
    out["on_front"] = np.array([not np.any((e <= e[k]) & (w >= w[k]) & ((e < e[k]) | (w > w[k])))
                                for k in range(len(results))])
    return out
