"""bidsim: batched auto-bidding market simulation (C++ engine) from Python.

    import bidsim
    market = bidsim.Market("default", overrides={"market.envs": 4}, seed=7)
    market.reset()
    while not market.done:
        market.step(market.builtin_multipliers())      # or your own [E, N] bid multipliers
    print(market.reward.sum(axis=1))                   # return of every agent, per environment

Arrays handed out by a Market (``observation``, ``step_reward``, ``reward``, ...) are read-only NumPy
views of the engine's own buffers: no copy is made, and the next ``step``/``reset`` overwrites them
(``.copy()`` what you keep). Errors are the command line's one-line messages, raised as
``bidsim.ScenarioError`` (a bad scenario or override) or ``bidsim.UsageError`` (an impossible request);
both are ``ValueError``s.
"""
from ._bidsim import (OBSERVATION_FIELDS, DeviceArray, ScenarioError, UsageError, cuda_backend_built,
                      cuda_device_present)
from ._market import Market
from .vector_env import VectorEnv
from .parallel_env import ParallelEnv
from .rollout import load_rollout
from . import mesob
from . import auctionnet

__all__ = ["mesob", "auctionnet", "Market", "VectorEnv", "ParallelEnv", "load_rollout", "ScenarioError", "UsageError",
           "OBSERVATION_FIELDS", "DeviceArray", "cuda_backend_built", "cuda_device_present"]
