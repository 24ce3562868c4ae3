"""A Gymnasium-style vector environment over one Market: every (environment, agent) pair is one
sub-environment, flattened as index ``e * N + i`` (``num_envs = E * N``)."""
import numpy as np

from ._market import Market
from ._spaces import Box
from ._bidsim import OBSERVATION_FIELDS


class VectorEnv:
    """Gymnasium ``VectorEnv`` signature without importing gymnasium.

    ``reset(seed=None, options=None) -> (obs [E*N, 12] float32, infos)`` and
    ``step(actions [E*N] bid multipliers) -> (obs, rewards [E*N] float64, terminations [E*N] bool,
    truncations [E*N] bool, infos)``. All agents of all environments share the horizon T, so an
    episode ends for every sub-environment at once; the next episode starts automatically in the same
    call (``infos["final_observation"]`` and ``infos["final_return"]`` hold the finished episode), as
    in gymnasium 0.29's same-step autoreset. ``infos["cost"]`` is each agent's spend in the step.

    Zero copy: ``obs`` views the engine's observation buffer and is overwritten by the next call;
    ``rewards`` is a view too, except on the autoreset step, where it is a copy.
    """

    metadata = {"autoreset_mode": "same-step"}

    def __init__(self, scenario="default", overrides=None, seed=None, device="auto", threads=0):
        self._args = dict(scenario=scenario, overrides=overrides, device=device, threads=threads)
        self.market = Market(seed=seed, **self._args)
        self.num_envs = self.market.envs * self.market.agents
        width = len(OBSERVATION_FIELDS)
        self.single_observation_space = Box(-np.inf, np.inf, (width,), np.float32)
        self.single_action_space = Box(0.0, np.inf, (), np.float32)
        self.observation_space = Box(-np.inf, np.inf, (self.num_envs, width), np.float32)
        self.action_space = Box(0.0, np.inf, (self.num_envs,), np.float32)
        self._terminated = np.zeros(self.num_envs, dtype=bool)
        self._truncated = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed=None, options=None):
        if seed is not None:  # a new seed is a new market (every draw is keyed by it)
            self.market = Market(seed=seed, **self._args)
        self.market.reset()
        return self._observation(), {}

    def step(self, actions):
        self.market.step(np.asarray(actions, dtype=np.float32).reshape(self.market.envs, self.market.agents))
        rewards = self.market.step_reward.reshape(-1)
        infos = {"cost": self.market.step_cost.reshape(-1)}
        if not self.market.done:
            return self._observation(), rewards, self._terminated, self._truncated, infos
        infos = {"cost": infos["cost"].copy(), "final_observation": self._observation().copy(),
                 "final_return": self.market.reward.reshape(-1).copy()}
        rewards = rewards.copy()
        self.market.reset()
        return self._observation(), rewards, np.ones(self.num_envs, dtype=bool), self._truncated, infos

    def close(self):
        self.market = None

    def _observation(self):
        return self.market.observation.reshape(self.num_envs, -1)
