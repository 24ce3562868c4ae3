"""bidsim.Market: the engine's Market with Python-friendly arguments (dict overrides, seed)."""
import json
import math
import numbers

from . import _bidsim
from ._paths import SCENARIOS_DIR


def _override_text(key, value):
    """One ``key=value`` override as the CLI's ``--set`` takes it (the value is parsed as YAML)."""
    if not isinstance(key, str) or not key:
        raise _bidsim.ScenarioError(f"overrides: key: got {key!r}, expected a non-empty string such as 'market.envs'")
    if isinstance(value, str):
        return f"{key}={value}"
    if isinstance(value, float) and not math.isfinite(value):
        raise _bidsim.ScenarioError(f"overrides: {key}: got {value}, expected a finite number")
    try:
        return f"{key}={json.dumps(value, allow_nan=False)}"  # JSON is YAML flow: numbers, bools, lists, maps
    except (TypeError, ValueError):
        raise _bidsim.ScenarioError(f"overrides: {key}: got {value!r}, expected a number, string, bool or list") from None


def _override_texts(overrides):
    """A dict ({"market.envs": 16}) or the CLI's ["key=value"] list, as the engine's override strings."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return [_override_text(k, v) for k, v in overrides.items()]
    if isinstance(overrides, (list, tuple)) and all(isinstance(t, str) for t in overrides):
        return list(overrides)
    raise _bidsim.ScenarioError(f"overrides: got {overrides!r}, expected a dict or a list of 'key=value' strings")


class Market(_bidsim.Market):
    """E environments x N agents of one scenario, stepped with bid multipliers.

    Parameters
    ----------
    scenario : str
        A shipped scenario by name (``"default"``, ``"auctionnet"``, ``"bpg-100"``) or a YAML path.
    overrides : dict or list of str, optional
        Scenario keys to override, ``{"market.envs": 16, "agents.budget": [1, 2]}`` or the CLI's
        ``["market.envs=16"]`` form.
    seed : int, optional
        The scenario's seed (same as ``overrides={"seed": S}``).
    device : "auto" | "cpu" | "cuda"
        The market backend; ``"cuda"`` without a CUDA build and device raises UsageError.
    threads : int
        CPU threads (0 = every core).

    Attributes (read-only NumPy views of the engine's buffers, overwritten by the next step/reset)
    ----------
    observation : float32 [E, N, 12]   fields in bidsim.OBSERVATION_FIELDS
    step_reward, step_cost, step_value, step_conversions : float64 [E, N]   the step just run
    step_wins, step_exposures : int32 [E, N];  step_multiplier : float32 [E, N]
    reward, cost, value, conversions, remaining_budget : float64 [E, N]   episode so far
    wins, exposures : int64 [E, N];  revenue : float64 [E]
    """

    def __init__(self, scenario="default", overrides=None, seed=None, device="auto", threads=0):
        texts = _override_texts(overrides)
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
                raise _bidsim.ScenarioError(f"seed: got {seed!r}, expected an integer in [0, 2^64)")
            texts.append(f"seed={int(seed)}")
        if not isinstance(threads, numbers.Integral) or isinstance(threads, bool) or threads < 0:
            raise _bidsim.UsageError(f"threads: got {threads!r}, expected an integer >= 0 (0 = every core)")
        super().__init__(str(scenario), texts, str(device), int(threads), SCENARIOS_DIR)
        self._constructed = True

    def __repr__(self):
        if not hasattr(self, "_constructed"):
            return "bidsim.Market(<not constructed>)"
        return (f"bidsim.Market({self.scenario_name!r}: {self.envs} envs x {self.agents} agents x {self.steps} steps, "
                f"seed {self.seed}, backend {self.backend}, step {self.step_index})")
