"""Per-impression bids from Python (Market.observe_impressions / step_bids) and the AuctionNet harness
(bidsim.auctionnet): the bids = alpha x pValue invariant, the harness against `bidsim simulate` with the
equivalent constant policy, AuctionNet's loop semantics (floor, histories), frozen noise, errors."""
import json
import subprocess

import numpy as np
import pytest

import bidsim
from bidsim import auctionnet

# The auctionnet preset on a small traffic (about 400 impressions a tick) so a test episode is quick.
SMALL = {"impressions.total": 20000}
N = 48


def twin_markets(threads):
    """Two markets of the small preset, both reset to episode 0: one stepped one way, one the other."""
    markets = [bidsim.Market("auctionnet", overrides=SMALL, threads=threads) for _ in range(2)]
    for market in markets:
        market.reset()
    return markets


def alphas(seed=0, low=40.0, high=4000.0):
    """Per-agent alphas wide enough that budgets run out (the floor and the overspend rule bind)."""
    return np.random.default_rng(seed).uniform(low, high, N).astype(np.float32)


def test_observe_and_step_bids_shapes_and_views():
    market = bidsim.Market("auctionnet", overrides=SMALL, threads=1)
    market.reset()
    seen = market.observe_impressions()
    rows = int(seen["offset"][-1])
    assert seen["value"].shape == seen["sigma"].shape == (rows, N)
    assert seen["value"].dtype == np.float32 and not seen["value"].flags.writeable
    assert (seen["value"] >= 0).all() and (seen["value"] <= 1).all()
    assert (seen["sigma"] <= 0.3 * seen["value"] + 1e-12).all()
    out = market.step_bids(np.float32(100) * seen["value"])
    assert out["winner"].shape == out["price"].shape == out["exposed"].shape == (rows, 3)
    assert out["least_winning_cost"].shape == (rows,)
    sold = out["winner"] >= 0
    # A sold slot's price is at least the least winning cost (the 4th bid or the reserve).
    assert (out["price"][sold] >= np.broadcast_to(out["least_winning_cost"][:, None], sold.shape)[sold]).all()
    assert out["least_winning_cost"].min() >= 1e-4
    # Charged = exposed on the preset (charge: on_exposure); the step's costs add up.
    cost = np.zeros(N)
    np.add.at(cost, out["winner"][sold], np.where(out["charged"][sold] == 1, out["price"][sold], 0.0))
    np.testing.assert_allclose(cost, market.step_cost[0], rtol=1e-12, atol=1e-12)
    assert int(out["converted"].sum()) == int(market.step_conversions[0].sum())


def test_bids_equal_to_multiplier_times_value_give_the_multiplier_step():
    by_bids, by_multiplier = twin_markets(threads=2)
    a = alphas(1)
    while not by_bids.done:
        seen = by_bids.observe_impressions()
        by_bids.step_bids(a[None, :] * seen["value"])
        by_multiplier.step(a[None, :])
        for field in ("remaining_budget", "cost", "conversions", "wins", "exposures", "observation"):
            assert np.array_equal(getattr(by_bids, field), getattr(by_multiplier, field)), field
    assert (by_bids.remaining_budget < 0.1).any()  # some agents reached the floor


def test_step_bids_errors_are_one_line():
    market = bidsim.Market("auctionnet", overrides=SMALL, threads=1)
    with pytest.raises(bidsim.UsageError, match=r"^Market.step_bids: call reset\(\) first$"):
        market.step_bids(np.zeros((1, N)))
    market.reset()
    rows = int(market.observe_impressions()["offset"][-1])
    with pytest.raises(ValueError, match=rf"^Market.step_bids: bids: got shape \(3, {N}\), expected "
                                                rf"\(impressions, agents\) = \({rows}, {N}\)$"):
        market.step_bids(np.zeros((3, N)))
    bids = np.zeros((rows, N), dtype=np.float32)
    bids[2, 5] = np.nan
    with pytest.raises(bidsim.UsageError, match=r"^Market.step_bids: bids\[2, 5\]: got nan, expected a finite number >= 0"):
        market.step_bids(bids)
    bids[2, 5] = -1
    with pytest.raises(bidsim.UsageError, match=r"bids\[2, 5\]: got -1, expected a finite number >= 0"):
        market.step_bids(bids)
    with pytest.raises(TypeError, match="Market.step_bids: bids: expected an array of numbers"):
        market.step_bids("no")
    assert market.step_index == 0
    sparse = bidsim.Market("default", overrides={"candidates.mode": "sparse", "candidates.per_impression": 2})
    sparse.reset()
    with pytest.raises(bidsim.UsageError, match="candidates.mode: got 'sparse', expected 'dense'"):
        sparse.observe_impressions()


def _simulate_summary(program, tmp_path, alpha, episodes, extra=()):
    policy = "{name: fixed, type: constant, agents: all, multiplier: [" + ", ".join(repr(float(x)) for x in alpha) + "]}"
    from bidsim._paths import SCENARIOS_DIR
    args = [program, "simulate", f"{SCENARIOS_DIR}/auctionnet.yaml", "--quiet", "--threads", "1", "--out", str(tmp_path / "sim"),
            "--set", f"market.envs={episodes}", "--set", f"policies=[{policy}]"]
    for key, value in list(SMALL.items()) + list(extra):
        args += ["--set", f"{key}={value}"]
    subprocess.run(args, check=True, capture_output=True)
    return json.loads((tmp_path / "sim" / "summary.json").read_text())


@pytest.mark.parametrize("frozen", [False, True])
def test_fixed_alpha_through_the_harness_is_bidsim_simulate_with_a_constant_policy(tmp_path, bidsim_program, frozen):
    a = alphas(2)
    strategies = [auctionnet.FixedAlphaStrategy(float(x)) for x in a]
    result = auctionnet.run(strategies, overrides=SMALL, episodes=2, frozen_noise=frozen, threads=1)
    summary = _simulate_summary(bidsim_program, tmp_path, a, 2,
                                [("mechanism.frozen_noise", "true")] if frozen else [])
    assert set(summary["per_agent"]) == set(result["per_agent"])
    for field, values in summary["per_agent"].items():
        assert result["per_agent"][field] == values, field  # exactly, not approximately
    assert result["score"] == summary["score"]
    assert min(result["per_agent"]["budget_spent"]) < 0.5 < max(result["per_agent"]["budget_spent"])


class Recorder(auctionnet.BaseBiddingStrategy):
    """Records what the harness hands a strategy, and bids a fixed alpha."""

    def __init__(self, alpha):
        super().__init__(name="Recorder")
        self.alpha = np.float32(alpha)
        self.calls = []
        self.resets = 0

    def reset(self):
        super().reset()
        self.resets += 1
        self.calls = []

    def bidding(self, timeStepIndex, pValues, pValueSigmas, historyPValueInfo, historyBid,
                historyAuctionResult, historyImpressionResult, historyLeastWinningCost):
        self.calls.append((timeStepIndex, self.remaining_budget, pValues.shape, len(historyPValueInfo),
                           [h.shape for h in historyPValueInfo], [h.shape for h in historyAuctionResult],
                           [h.shape for h in historyImpressionResult], [h.shape for h in historyBid],
                           [h.shape for h in historyLeastWinningCost],
                           historyAuctionResult[-1].copy() if historyAuctionResult else None,
                           historyImpressionResult[-1].copy() if historyImpressionResult else None))
        self.last_histories = [np.array(h) for h in (historyPValueInfo + historyBid + historyAuctionResult +
                                                     historyImpressionResult + historyLeastWinningCost)]
        return self.alpha * pValues


def test_harness_follows_auctionnet_loop_semantics():
    a = alphas(3)
    strategies = [Recorder(x) for x in a]
    budgets = [0.05] + [3000.0] * (N - 1)  # agent 0 starts under the floor 0.1: never asked
    result = auctionnet.run(strategies, overrides=dict(SMALL, **{"agents.budget": budgets}), episodes=1, threads=1)
    first = strategies[0]
    assert first.resets == 1 and first.budget == 0.05 and first.cpa == 100 and first.category == 0
    assert first.calls == [] and result["per_agent"]["wins"][0] == 0
    assert strategies[47].category == 5 and strategies[47].cpa == 120 and strategies[47].budget == 3000
    full = strategies[47].calls
    assert [c[0] for c in full] == list(range(48))
    for t, call in enumerate(full):
        _, _, shape, history_length, pv, auction, impression, bid, lwc, last_auction, last_impression = call
        assert history_length == t
        assert all(p[1] == 2 and a_[1] == 3 and i[1] == 2 for p, a_, i in zip(pv, auction, impression))
        assert [b[0] for b in bid] == [p[0] for p in pv] == [x[0] for x in lwc]
        if last_auction is not None:
            won, slot, price = last_auction[:, 0], last_auction[:, 1], last_auction[:, 2]
            assert set(np.unique(slot)) <= {0.0, 1.0, 2.0, 3.0}
            assert np.array_equal(won, (slot > 0).astype(float))
            assert (price[slot == 0] == 0).all() and (price[slot > 0] > 0).all()
            exposed, converted = last_impression[:, 0], last_impression[:, 1]
            assert (exposed <= won).all() and (converted <= exposed).all()
    assert max(result["per_agent"]["wins"]) > 0


def test_pid_pacing_strategy_paces_and_the_score_rule():
    strategies = [auctionnet.PidPacingStrategy() for _ in range(N)]
    result = auctionnet.run(strategies, overrides=SMALL, episodes=1, threads=1)
    spent = np.array(result["per_agent"]["budget_spent"])
    assert (spent > 0).all() and (spent <= 1.0 + 1e-12).all()
    assert len({s.alpha for s in strategies}) > 1  # each agent paced itself
    # CPA 50 <= 100: full score; CPA 200: (100 / 200)^2 of it; no conversions: 0.
    np.testing.assert_allclose(auctionnet.score([10, 10, 0], [500, 2000, 0], [100, 100, 100]),
                               [10.0, 10 * 0.5 * 0.5, 0.0], rtol=1e-9)


def test_frozen_noise_is_deterministic_and_differs_from_the_default():
    a = alphas(4, 40, 400)
    run = lambda frozen: auctionnet.run([auctionnet.FixedAlphaStrategy(float(x)) for x in a], overrides=SMALL,
                                        frozen_noise=frozen, threads=1)
    frozen, again, fresh = run(True), run(True), run(False)
    assert frozen["per_agent"] == again["per_agent"]
    assert frozen["per_agent"]["conversions"] != fresh["per_agent"]["conversions"]
    assert frozen["frozen_noise"] and not fresh["frozen_noise"]


def test_harness_errors():
    with pytest.raises(bidsim.UsageError, match=r"strategies: got 2, expected one per agent \(48\)"):
        auctionnet.run([auctionnet.FixedAlphaStrategy(1.0)] * 2, overrides=SMALL)
    with pytest.raises(bidsim.UsageError, match="episodes: got 0, expected an integer >= 1"):
        auctionnet.run([auctionnet.FixedAlphaStrategy(1.0)] * N, episodes=0)

    class Short(auctionnet.BaseBiddingStrategy):
        def bidding(self, *args):
            return np.ones(3)

    with pytest.raises(bidsim.UsageError, match=r"agent 0 \(BaseStrategy\), tick 0: bids: got shape \(3,\)"):
        auctionnet.run([Short()] + [auctionnet.FixedAlphaStrategy(1.0) for _ in range(N - 1)], overrides=SMALL)

    class Nan(auctionnet.BaseBiddingStrategy):
        def bidding(self, timeStepIndex, pValues, *args):
            return pValues * np.nan

    with pytest.raises(bidsim.UsageError, match=r"agent 1 \(BaseStrategy\), tick 0: bids\[0\]: got nan"):
        auctionnet.run([auctionnet.FixedAlphaStrategy(1.0), Nan()] + [auctionnet.FixedAlphaStrategy(1.0)] * (N - 2),
                       overrides=SMALL)


def test_histories_of_a_later_episode_equal_a_fresh_run_of_it():
    """The harness reuses its history buffers from one episode to the next: episode 1 of a two-episode
    run hands strategies exactly what a run starting at episode 1 does (no stale cells)."""
    a = alphas(5)
    two = [Recorder(x) for x in a]
    fresh = [Recorder(x) for x in a]
    result_two = auctionnet.run(two, overrides=SMALL, episodes=2, threads=1)
    result_fresh = auctionnet.run(fresh, overrides=SMALL, episodes=1, first_episode=1, threads=1)
    for i in (0, 17, 47):
        assert len(two[i].last_histories) == len(fresh[i].last_histories) > 0
        for x, y in zip(two[i].last_histories, fresh[i].last_histories):
            assert np.array_equal(x, y)
    assert result_two["per_episode"]["cost"][1].tolist() == result_fresh["per_episode"]["cost"][0].tolist()


def test_observe_into_agent_major_buffer_is_the_default_view_transposed():
    views = bidsim.Market("auctionnet", overrides=SMALL, threads=2)
    into = bidsim.Market("auctionnet", overrides=SMALL, threads=1)
    views.reset(3)
    into.reset(3)
    for _ in range(3):
        seen = views.observe_impressions()
        rows = int(into.next_step_offset[-1])
        assert rows == int(seen["offset"][-1])
        out = np.full((2, N, rows), np.nan, dtype=np.float32)  # every cell must be written
        got = into.observe_impressions(out=out)
        assert np.shares_memory(got["value"], out) and got["value"].shape == (N, rows)
        assert np.array_equal(out[0], seen["value"].T) and np.array_equal(out[1], seen["sigma"].T)
        assert got["offset"].tolist() == seen["offset"].tolist() and got["step"] == seen["step"]
        bids = np.float32(300) * seen["value"]
        views.step_bids(bids)
        into.step_bids(np.ascontiguousarray(bids.T), by_agent=True)
    for wrong in (np.zeros((2, N, rows + 1), np.float32), np.zeros((2, N, rows), np.float64),
                  np.zeros((N, 2, rows), np.float32)[:, 0]):
        with pytest.raises(ValueError, match=r"^Market.observe_impressions: out: expected a writable C-contiguous "
                                             r"float32 array of shape \(2, agents, impressions\)"):
            into.observe_impressions(out=wrong)


def test_step_bids_by_agent_and_negative_to_zero_equal_the_plain_step():
    plain, by_agent = twin_markets(threads=1)
    a = alphas(6)
    rng = np.random.default_rng(6)
    while not plain.done:
        value = plain.observe_impressions()["value"]
        bids = a[None, :] * value
        negative = rng.random(bids.shape) < 0.3  # these bid nothing: 0 in one market, negative in the other
        bids[negative] = 0
        signed = np.where(negative, -bids - 1, bids).astype(np.float32)
        expected = plain.step_bids(bids)
        got = by_agent.step_bids(np.ascontiguousarray(signed.T), by_agent=True, negative_to_zero=True)
        for field in ("winner", "price", "exposed", "converted", "least_winning_cost"):
            assert np.array_equal(expected[field], got[field]), field
        assert np.array_equal(plain.remaining_budget, by_agent.remaining_budget)
    market = bidsim.Market("auctionnet", overrides=SMALL, threads=1)
    market.reset()
    rows = int(market.next_step_offset[-1])
    bids = np.zeros((N, rows), dtype=np.float32)
    bids[5, 2] = np.inf
    with pytest.raises(bidsim.UsageError, match=r"^Market.step_bids: bids\[5, 2\]: got inf, expected a finite number "
                                                r"\(negative = no bid\)$"):
        market.step_bids(bids, by_agent=True, negative_to_zero=True)
    bids[5, 2] = -1
    with pytest.raises(bidsim.UsageError, match=r"^Market.step_bids: bids\[5, 2\]: got -1, expected a finite number >= 0"):
        market.step_bids(bids, by_agent=True)
    with pytest.raises(ValueError, match=rf"bids: got shape \({rows}, {N}\), expected \(agents, impressions\) = "
                                         rf"\({N}, {rows}\)"):
        market.step_bids(np.zeros((rows, N), np.float32), by_agent=True)
    assert market.step_index == 0


def test_write_outcomes_writes_every_cell_of_the_histories():
    market = bidsim.Market("auctionnet", overrides=SMALL, threads=1)
    market.reset()
    value = market.observe_impressions()["value"]
    out = market.step_bids(alphas(7)[None, :] * value)
    rows = value.shape[0]
    auction = np.full((rows, N, 3), 7.0)  # stale content: every cell must be overwritten
    impression = np.full((rows, N, 2), 7.0, dtype=np.float32)
    market.write_outcomes(auction, impression)
    expected_auction, expected_impression = np.zeros_like(auction), np.zeros_like(impression)
    for slot in range(3):
        sold = np.nonzero(out["winner"][:, slot] >= 0)[0]
        agent = out["winner"][sold, slot]
        expected_auction[sold, agent] = np.stack([np.ones(len(sold)), np.full(len(sold), slot + 1.0),
                                                  out["price"][sold, slot]], axis=1)
        expected_impression[sold, agent, 0] = out["exposed"][sold, slot]
        expected_impression[sold, agent, 1] = out["converted"][sold, slot]
    assert np.array_equal(auction, expected_auction) and np.array_equal(impression, expected_impression)
    assert expected_auction[:, :, 0].sum() > 0
    with pytest.raises(ValueError, match=r"^Market.write_outcomes: expected writable C-contiguous arrays"):
        market.write_outcomes(np.zeros((rows, N, 3), np.float32), impression)


def test_negative_bids_of_a_strategy_are_no_bids():
    class Negative(auctionnet.BaseBiddingStrategy):
        def bidding(self, timeStepIndex, pValues, *args):
            return -pValues

    class Zero(auctionnet.BaseBiddingStrategy):
        def bidding(self, timeStepIndex, pValues, *args):
            return np.zeros_like(pValues)

    others = lambda: [auctionnet.FixedAlphaStrategy(float(x)) for x in alphas(8)[1:]]
    negative = [Negative()] + others()
    zero = [Zero()] + others()
    got = auctionnet.run(negative, overrides=SMALL, threads=1)
    expected = auctionnet.run(zero, overrides=SMALL, threads=1)
    assert got["per_agent"] == expected["per_agent"] and got["per_agent"]["wins"][0] == 0
