"""VectorEnv (Gymnasium signature) and ParallelEnv (PettingZoo signature) over the engine."""
import numpy as np
import pytest

import bidsim

SMALL = {"market.envs": 2, "market.steps": 4, "agents.count": 5, "impressions.per_step": 40}   # bpg-10 with 5 agents


def test_vector_env_shapes_and_zero_copy():
    env = bidsim.VectorEnv("bpg-10", overrides=SMALL, seed=4)
    assert env.num_envs == 10
    obs, infos = env.reset()
    assert obs.shape == (10, len(bidsim.OBSERVATION_FIELDS)) and obs.dtype == np.float32 and infos == {}
    assert np.shares_memory(obs, env.market.observation)
    obs, rewards, terminated, truncated, infos = env.step(np.ones(10, dtype=np.float32))
    assert rewards.shape == (10,) and terminated.shape == (10,) and truncated.shape == (10,)
    assert not terminated.any() and not truncated.any()
    assert np.shares_memory(rewards, env.market.step_reward)
    assert infos["cost"].shape == (10,)
    assert env.single_observation_space.shape == (12,) and env.action_space.shape == (10,)


def test_vector_env_flattens_env_major_and_matches_the_market():
    env = bidsim.VectorEnv("bpg-10", overrides=SMALL, seed=4)
    market = bidsim.Market("bpg-10", overrides=SMALL, seed=4)
    env.reset()
    market.reset()
    actions = np.linspace(0.5, 1.5, 10).astype(np.float32)
    _, rewards, _, _, _ = env.step(actions)
    market.step(actions.reshape(2, 5))                 # sub-environment e * N + i is (env e, agent i)
    assert np.array_equal(rewards, market.step_reward.reshape(-1))


def test_vector_env_autoresets_in_the_same_step():
    env = bidsim.VectorEnv("bpg-10", overrides=SMALL, seed=4)
    env.reset()
    total = np.zeros(10)
    for t in range(4):
        obs, rewards, terminated, truncated, infos = env.step(np.ones(10))
        total += rewards
    assert terminated.all() and not truncated.any()
    np.testing.assert_allclose(infos["final_return"], total, rtol=1e-12)
    assert not np.shares_memory(rewards, env.market.step_reward)   # a copy survives the reset
    assert env.market.step_index == 0                  # the next episode has started
    time_left = bidsim.OBSERVATION_FIELDS.index("time_left")
    assert np.all(obs[:, time_left] == 1.0) and np.all(infos["final_observation"][:, time_left] < 1.0)
    env.step(np.ones(10))                              # and can be stepped


def test_vector_env_reset_with_seed_is_a_new_market():
    env = bidsim.VectorEnv("bpg-10", overrides=SMALL, seed=4)
    env.reset(seed=8)
    _, a, _, _, _ = env.step(np.ones(10))
    a = a.copy()
    env.reset(seed=8)
    _, b, _, _, _ = env.step(np.ones(10))
    assert np.array_equal(a, b)
    env.reset(seed=9)
    _, c, _, _, _ = env.step(np.ones(10))
    assert not np.array_equal(a, c)


def test_parallel_env_dicts_and_episode_end():
    env = bidsim.ParallelEnv("bpg-10", overrides=SMALL, seed=4)
    assert env.possible_agents == [f"agent_{i}" for i in range(5)]
    obs, infos = env.reset()
    assert set(obs) == set(env.agents) == set(infos)
    market = bidsim.Market("bpg-10", overrides=dict(SMALL, **{"market.envs": 1}), seed=4)
    market.reset()
    for t in range(4):
        actions = {a: 0.5 + 0.1 * i for i, a in enumerate(env.agents)}
        obs, rewards, terminations, truncations, infos = env.step(actions)
        market.step(np.array([[0.5 + 0.1 * i for i in range(5)]]))
        assert [rewards[f"agent_{i}"] for i in range(5)] == list(market.step_reward[0])
    assert all(terminations.values()) and not any(truncations.values())
    assert env.agents == []
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({})
    env.reset()
    with pytest.raises(KeyError, match="unknown agent"):
        env.step({"agent_99": 1.0})
