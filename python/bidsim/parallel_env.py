"""A PettingZoo-style parallel environment over one market environment (E = 1), for small N: agents
are named ``agent_0`` ... ``agent_{N-1}`` and every call takes and returns dicts keyed by them."""
import numpy as np

from ._market import Market
from ._spaces import Box
from ._bidsim import OBSERVATION_FIELDS


class ParallelEnv:
    """PettingZoo ``ParallelEnv`` signature without importing pettingzoo.

    ``reset(seed=None, options=None) -> (observations, infos)``;
    ``step({agent: multiplier}) -> (observations, rewards, terminations, truncations, infos)``.
    Agents missing from ``actions`` bid nothing in that step. After the last step every agent is
    terminated and ``agents`` is empty until the next ``reset``. Observations are copies (one small
    array per agent).
    """

    metadata = {"name": "bidsim_parallel_v0", "is_parallelizable": True}

    def __init__(self, scenario="default", overrides=None, seed=None, device="auto", threads=0):
        merged = dict(overrides or {}) if not isinstance(overrides, (list, tuple)) else overrides
        if isinstance(merged, dict):
            merged["market.envs"] = 1
        else:
            merged = list(merged) + ["market.envs=1"]
        self._args = dict(scenario=scenario, overrides=merged, device=device, threads=threads)
        self.market = Market(seed=seed, **self._args)
        self.possible_agents = [f"agent_{i}" for i in range(self.market.agents)]
        self._index = {name: i for i, name in enumerate(self.possible_agents)}
        self.agents = []
        width = len(OBSERVATION_FIELDS)
        self._observation_space = Box(-np.inf, np.inf, (width,), np.float32)
        self._action_space = Box(0.0, np.inf, (), np.float32)

    def observation_space(self, agent):
        return self._observation_space

    def action_space(self, agent):
        return self._action_space

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.market = Market(seed=seed, **self._args)
        self.market.reset()
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions):
        if not self.agents:
            raise RuntimeError("ParallelEnv.step: the episode is over; call reset()")
        multipliers = np.zeros((1, self.market.agents), dtype=np.float32)
        for name, action in actions.items():
            if name not in self._index:
                raise KeyError(f"ParallelEnv.step: unknown agent {name!r}; agents are agent_0..agent_{self.market.agents - 1}")
            multipliers[0, self._index[name]] = float(np.asarray(action).reshape(()))
        self.market.step(multipliers)
        done = self.market.done
        rewards = {a: float(self.market.step_reward[0, self._index[a]]) for a in self.agents}
        infos = {a: {"cost": float(self.market.step_cost[0, self._index[a]])} for a in self.agents}
        observations = self._observations()
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _observations(self):
        obs = self.market.observation[0]
        return {a: obs[self._index[a]].copy() for a in self.agents}
