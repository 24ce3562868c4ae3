"""bidsim.Market: zero-copy read-only views, equality with `bidsim simulate`, determinism, errors."""
import json
import subprocess

import numpy as np
import pytest

import bidsim

SMALL = {"market.envs": 3, "market.steps": 6, "impressions.per_step": 50}   # default.yaml: 100 agents
N = 100


def run_builtin(market):
    market.reset()
    while not market.done:
        market.step(market.builtin_multipliers())
    return market


def test_views_share_the_engine_buffers_and_are_read_only():
    market = bidsim.Market("default", overrides=SMALL, seed=3)
    market.reset()
    before = market.reward           # a view taken before any step...
    observation = market.observation
    market.step(np.full((3, N), 0.8, dtype=np.float32))
    assert np.shares_memory(before, market.reward)      # ...is the same memory after it
    assert np.shares_memory(observation, market.observation)
    assert before.sum() > 0                              # and sees the step's values
    assert np.array_equal(before, market.reward)
    for view in (market.reward, market.observation, market.step_cost, market.wins, market.revenue):
        assert not view.flags.writeable
        assert not view.flags.owndata
    with pytest.raises(ValueError):
        market.reward[0, 0] = 1.0
    assert market.observation.shape == (3, N, len(bidsim.OBSERVATION_FIELDS))
    assert market.observation.dtype == np.float32 and market.reward.dtype == np.float64
    assert market.wins.dtype == np.int64 and market.step_wins.dtype == np.int32


def test_a_view_keeps_its_market_alive():
    market = bidsim.Market("default", overrides=SMALL, seed=3)
    market.reset()
    market.step(np.ones((3, N), dtype=np.float32))
    reward = market.reward
    expected = reward.copy()
    del market
    assert np.array_equal(reward, expected)   # the view's base holds the Market


def test_builtin_loop_equals_bidsim_simulate(tmp_path, bidsim_program):
    overrides = ["market.envs=3", "market.steps=6", "impressions.per_step=50"]
    args = [bidsim_program, "simulate", "--seed", "11", "--quiet", "--threads", "1", "--out", str(tmp_path / "sim")]
    for o in overrides:
        args += ["--set", o]
    subprocess.run(args, check=True, capture_output=True)
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    market = run_builtin(bidsim.Market("default", overrides=overrides, seed=11, threads=1))
    assert market.backend == summary["backend"] == "cpu"
    np.testing.assert_allclose(market.reward.mean(axis=0), summary["per_agent"]["return"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(market.cost.mean(axis=0), summary["per_agent"]["cost"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(market.reward.sum(axis=1).mean(), summary["social_welfare"], rtol=1e-12)
    np.testing.assert_allclose(market.revenue.mean(), summary["revenue"], rtol=1e-12)


def test_same_seed_same_run_other_seed_other_run():
    a = run_builtin(bidsim.Market("default", overrides=SMALL, seed=5)).reward.copy()
    b = run_builtin(bidsim.Market("default", overrides=SMALL, seed=5)).reward.copy()
    c = run_builtin(bidsim.Market("default", overrides=SMALL, seed=6)).reward.copy()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_episodes_advance_and_repeat_on_request():
    market = bidsim.Market("default", overrides=SMALL, seed=5)
    first = run_builtin(market).reward.copy()
    second = run_builtin(market).reward.copy()         # reset() without an argument: next episode
    market.reset(episode=0)
    while not market.done:
        market.step(market.builtin_multipliers())
    assert not np.array_equal(first, second)
    assert np.array_equal(first, market.reward)


def test_threads_do_not_change_results():
    one = run_builtin(bidsim.Market("default", overrides=SMALL, seed=9, threads=1)).reward.copy()
    two = run_builtin(bidsim.Market("default", overrides=SMALL, seed=9, threads=2)).reward.copy()
    assert np.array_equal(one, two)


def test_flat_and_shaped_multipliers_are_the_same_step():
    a = bidsim.Market("default", overrides=SMALL, seed=2)
    b = bidsim.Market("default", overrides=SMALL, seed=2)
    a.reset(), b.reset()
    bids = np.linspace(0.2, 1.4, 3 * N)
    a.step(bids.reshape(3, N))
    b.step(list(bids))                                 # any array-like, converted to float32
    assert np.array_equal(a.step_reward, b.step_reward)


@pytest.mark.parametrize("make, kind, fragment", [
    (lambda: bidsim.Market("default", overrides={"market.agnts": 3}), bidsim.ScenarioError, "market.agnts: unknown key"),
    (lambda: bidsim.Market("default", overrides={"agents.budget": float("nan")}), bidsim.ScenarioError, "expected a finite number"),
    (lambda: bidsim.Market("default", overrides={"market.envs": -1}), bidsim.ScenarioError, "market.envs"),
    (lambda: bidsim.Market("default", overrides="market.envs=2"), bidsim.ScenarioError, "expected a dict or a list"),
    (lambda: bidsim.Market("default", seed=-1), bidsim.ScenarioError, "seed: got -1"),
    (lambda: bidsim.Market("default", seed=2**64), bidsim.ScenarioError, "seed"),
    (lambda: bidsim.Market("no-such-scenario"), bidsim.ScenarioError, "no-such-scenario"),
    (lambda: bidsim.Market("default", device="gpu"), bidsim.UsageError, "gpu"),
    (lambda: bidsim.Market("default", threads=-2), bidsim.UsageError, "threads: got -2"),
])
def test_bad_construction_is_one_clear_error(make, kind, fragment):
    with pytest.raises(kind) as caught:
        make()
    message = str(caught.value)
    assert fragment in message and "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_cuda_without_device_is_a_usage_error():
    if bidsim.cuda_device_present():
        pytest.skip("a CUDA device is present")
    with pytest.raises(bidsim.UsageError, match="cuda"):
        bidsim.Market("default", overrides=SMALL, device="cuda")


def test_bad_steps_are_clear_errors():
    market = bidsim.Market("default", overrides=SMALL, seed=1)
    with pytest.raises(bidsim.UsageError, match="call reset"):
        market.step(np.ones((3, N)))
    market.reset()
    with pytest.raises(ValueError, match="got 299 values, expected envs x agents = 3 x 100 = 300"):
        market.step(np.ones(3 * N - 1))
    bad = np.ones((3, N))
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match=r"multipliers\[1, 4\]: got nan"):
        market.step(bad)
    with pytest.raises(TypeError):
        market.step(["a"] * (3 * N))
    assert market.step_index == 0                      # nothing was stepped by the refused calls
    for _ in range(6):
        market.step(np.ones((3, N)))
    with pytest.raises(bidsim.UsageError, match="episode is over after 6 steps"):
        market.step(np.ones((3, N)))


def test_device_array_on_a_host_backend_is_refused():
    market = bidsim.Market("default", overrides=SMALL, device="cpu")
    market.reset()
    with pytest.raises(bidsim.UsageError, match="host memory"):
        market.device_array("observation")
    with pytest.raises(ValueError, match="expected one of"):
        market.device_array("nonsense")
