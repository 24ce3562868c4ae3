"""bidsim.auctionnet: run bidding strategies written to AuctionNet's strategy interface on bidsim.

AuctionNet (alimama-tech/AuctionNet, NeurIPS 2024) asks every strategy, at every tick, for one bid per
impression opportunity. A strategy is any object with the attributes ``budget``, ``remaining_budget``,
``name``, ``cpa``, ``category``, a ``reset()`` method and

    bidding(timeStepIndex, pValues, pValueSigmas, historyPValueInfo, historyBid,
            historyAuctionResult, historyImpressionResult, historyLeastWinningCost) -> bids

:func:`run` plays such strategies on the ``auctionnet`` preset (or any dense scenario) with AuctionNet's
loop semantics, market rules by bidsim's engine (``Market.step_bids``):

- before each episode the harness sets ``budget``, ``cpa`` and ``category`` from the scenario, calls
  ``reset()`` and sets ``remaining_budget = budget``;
- at each tick, an agent whose remaining budget is below the floor (``budget.floor``, 0.1) is not asked
  and bids nothing; the others' bids are made non-negative (AuctionNet's ``bids[bids < 0] = 0``);
- the tick's auction, exposure, conversions and the overspend rule (drop ceil(ratio x wins) per slot of an
  overspending agent and re-auction) run in the engine, with exact money;
- afterwards ``remaining_budget`` is the engine's remaining budget, and each agent's histories grow by
  one entry in AuctionNet's shapes (NumPy views valid for the episode: read them, do not write, copy
  what you keep across episodes), for M impressions of the tick:
  ``historyPValueInfo[t]`` [M, 2] (pValue, pValueSigma); ``historyBid[t]`` [M] (the bids it made);
  ``historyAuctionResult[t]`` [M, 3] (won a slot 0/1, slot 1..S or 0, the slot's price);
  ``historyImpressionResult[t]`` [M, 2] (exposed, converted); ``historyLeastWinningCost[t]`` [M] (the
  same for every agent: the (S+1)-th bid floored at the reserve);
- the score per agent and episode is conversions x min(1, CPA / (cost / conversions))^2.

One known difference: AuctionNet's ``historyBid`` shows 0 where the overspend rule removed a bid; here it
holds the bids as the strategy made them.

Episodes run one after another in one environment: episode k draws what environment k of
``bidsim simulate --set market.envs=K`` draws, so a fixed-alpha strategy gives exactly ``simulate``'s
numbers with the equivalent ``constant`` policy. ``frozen_noise=True`` sets the scenario's
``mechanism.frozen_noise`` (AuctionNet's ``default_rng(1)`` reuse; see docs/python.md).
"""
import math
import numbers
import time

import numpy as np

from . import _bidsim
from ._market import Market

__all__ = ["BaseBiddingStrategy", "FixedAlphaStrategy", "PidPacingStrategy", "run", "score"]


class BaseBiddingStrategy:
    """AuctionNet's strategy base: the attributes the harness sets and the two methods it calls."""

    def __init__(self, budget=100, name="BaseStrategy", cpa=2, category=1):
        self.budget = budget
        self.remaining_budget = budget
        self.name = name
        self.cpa = cpa
        self.category = category

    def reset(self):
        self.remaining_budget = self.budget

    def bidding(self, timeStepIndex, pValues, pValueSigmas, historyPValueInfo, historyBid,
                historyAuctionResult, historyImpressionResult, historyLeastWinningCost):
        return pValues


class FixedAlphaStrategy(BaseBiddingStrategy):
    """Bids alpha x pValue on every impression (bidsim's ``constant`` policy with multiplier alpha)."""

    def __init__(self, alpha, name=None, **kwargs):
        super().__init__(name=name or f"FixedAlpha({alpha:g})", **kwargs)
        self.alpha = np.float32(alpha)  # the engine's multiplier is a float32: the same product

    def bidding(self, timeStepIndex, pValues, pValueSigmas, historyPValueInfo, historyBid,
                historyAuctionResult, historyImpressionResult, historyLeastWinningCost):
        return self.alpha * pValues


class PidPacingStrategy(BaseBiddingStrategy):
    """Pacing on the budget: alpha grows by ``up`` when the last tick spent well under an even share of
    the remaining budget per remaining tick, shrinks by ``down`` when it spent well over it (the role of
    AuctionNet's PID opponent: alpha starts at 15, then x1.2 / x0.7)."""

    def __init__(self, initial_alpha=15.0, up=1.2, down=0.7, low=0.7, high=1.1, ticks=48, name="PidPacing",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.initial_alpha, self.up, self.down, self.low, self.high, self.ticks = (
            initial_alpha, up, down, low, high, ticks)
        self.alpha = initial_alpha
        self._budget_before_tick = None

    def reset(self):
        super().reset()
        self.alpha = self.initial_alpha
        self._budget_before_tick = None

    def bidding(self, timeStepIndex, pValues, pValueSigmas, historyPValueInfo, historyBid,
                historyAuctionResult, historyImpressionResult, historyLeastWinningCost):
        if timeStepIndex == 0 or self._budget_before_tick is None:
            self.alpha = self.initial_alpha
        else:
            spent = self._budget_before_tick - self.remaining_budget
            even_share = self.remaining_budget / max(self.ticks - timeStepIndex, 1)
            pace = spent / even_share if even_share > 0 else math.inf
            if pace < self.low:
                self.alpha *= self.up
            elif pace > self.high:
                self.alpha *= self.down
        self._budget_before_tick = self.remaining_budget
        return self.alpha * pValues


def score(conversions, cost, cpa):
    """AuctionNet's score: conversions x min(1, cpa / CPA)^2 with CPA = cost / (conversions + 1e-10)."""
    conversions, cost, cpa = (np.asarray(x, dtype=np.float64) for x in (conversions, cost, cpa))
    realized = cost / (conversions + 1e-10)
    ratio = np.minimum(np.where(realized > 0, cpa / np.where(realized > 0, realized, 1.0), 1.0), 1.0)
    return conversions * ratio * ratio  # this order: the engine's auctionnet_score, bit for bit


def _where(strategy, agent, tick):
    return f"auctionnet.run: agent {agent} ({getattr(strategy, 'name', type(strategy).__name__)}), tick {tick}"


def _store_bids(bids, row, strategy, agent, tick):
    """The strategy's bids into `row` (float32 [M], agent i's row of the tick's [N, M] bids), AuctionNet's
    negative -> 0, in one pass; one-line errors for a wrong shape or type. NaN/inf pass through here and
    are caught, in one pass over all agents, by Market.step_bids (see _bad_bid)."""
    rows = row.shape[0]
    try:
        array = np.asarray(bids)
        if array.shape != (rows,):
            raise _bidsim.UsageError(f"{_where(strategy, agent, tick)}: bids: got shape {array.shape}, expected ({rows},) "
                                     "(one per impression)")
        np.maximum(array, np.float32(0), out=row, casting="unsafe")
    except (TypeError, ValueError) as error:
        if isinstance(error, _bidsim.UsageError):
            raise
        raise _bidsim.UsageError(f"{_where(strategy, agent, tick)}: bids: got {type(bids).__name__}, expected {rows} "
                                 "numbers") from None


def _bad_bid(bids, strategies, tick):
    """The harness's one-line error for the first agent whose bids hold a NaN or an infinity."""
    finite = np.isfinite(bids)
    agent = int(np.argmin(finite.all(axis=1)))
    k = int(np.argmin(finite[agent]))
    return _bidsim.UsageError(f"{_where(strategies[agent], agent, tick)}: bids[{k}]: got {bids[agent, k]}, "
                              "expected a finite number")


class _TickBuffers:
    """The arrays of each tick index, kept from one episode to the next: an episode's histories are
    about 1 GB on the full preset, and fresh memory (page faults) costs more than everything else the
    harness does. Values and bids are agent-major ([2, N, M], [N, M]: agent i's pValues and bids are
    contiguous, what a strategy reads and writes every tick); auction and impression results are
    impression-major ([M, N, k]: the engine writes them row by row, every cell). Flat stores are
    reshaped to the tick's M so every view is C-contiguous. Arrays handed out are views of these
    buffers, valid until the next episode."""

    def __init__(self, agents):
        self.agents = agents
        self.store = {}

    def get(self, t, rows):
        cells = self.agents * rows
        kept = self.store.get(t)
        if kept is None or kept["bids"].shape[0] < cells:
            # Room for any later episode's traffic at this tick (the preset's per-episode factor is
            # U(0.6, 1.4): at most 1.4 / 0.6 = 2.33x): large arrays are mapped lazily, so pages never
            # touched cost nothing, and a store that grew would pay its page faults again.
            capacity = max(int(2.5 * cells), int(1.25 * kept["bids"].shape[0]) if kept else 0)
            kept = {"values": np.empty(2 * capacity, dtype=np.float32),
                    "bids": np.empty(capacity, dtype=np.float32),
                    "auction": np.empty(3 * capacity),
                    "impression": np.empty(2 * capacity, dtype=np.float32),
                    "least_winning_cost": np.empty(capacity // self.agents + 1)}
            self.store[t] = kept
        N = self.agents
        return {"values": kept["values"][:2 * cells].reshape(2, N, rows),
                "bids": kept["bids"][:cells].reshape(N, rows),
                "auction": kept["auction"][:3 * cells].reshape(rows, N, 3),
                "impression": kept["impression"][:2 * cells].reshape(rows, N, 2),
                "least_winning_cost": kept["least_winning_cost"][:rows]}


def _readonly(array):
    view = array.view()
    view.flags.writeable = False
    return view


def _strategy_check(strategies, agents):
    if len(strategies) != agents:
        raise _bidsim.UsageError(f"auctionnet.run: strategies: got {len(strategies)}, expected one per agent ({agents})")
    for i, s in enumerate(strategies):
        for attribute in ("reset", "bidding"):
            if not callable(getattr(s, attribute, None)):
                raise _bidsim.UsageError(f"auctionnet.run: strategies[{i}]: no {attribute}() method, expected "
                                         "AuctionNet's strategy interface")


def run(strategies, scenario="auctionnet", episodes=1, first_episode=0, overrides=None, seed=None,
        frozen_noise=False, device="cpu", threads=0):
    """Plays `strategies` (one per agent, AuctionNet's interface) for `episodes` episodes.

    Returns a dict shaped like ``bidsim simulate``'s summary.json: ``per_agent`` holds the means over
    episodes of ``return``, ``value``, ``cost``, ``wins``, ``exposures``, ``conversions``,
    ``budget_spent`` and ``score`` (lists of N floats); ``score`` is their sum; ``per_episode`` holds the
    same fields as [episodes, N] arrays; ``names`` the strategies' names; ``seconds`` the wall time
    (``episode_seconds`` per episode: the first one also pays for the history buffers' fresh memory).
    """
    if isinstance(episodes, bool) or not isinstance(episodes, numbers.Integral) or episodes < 1:
        raise _bidsim.UsageError(f"auctionnet.run: episodes: got {episodes!r}, expected an integer >= 1")
    if isinstance(first_episode, bool) or not isinstance(first_episode, numbers.Integral) or first_episode < 0:
        raise _bidsim.UsageError(f"auctionnet.run: first_episode: got {first_episode!r}, expected an integer >= 0")
    if not isinstance(frozen_noise, bool):
        raise _bidsim.UsageError(f"auctionnet.run: frozen_noise: got {frozen_noise!r}, expected True or False")
    texts = dict(overrides or {})
    if "market.envs" in texts and texts["market.envs"] != 1:
        raise _bidsim.UsageError("auctionnet.run: overrides: market.envs must be 1 (episodes run one after another)")
    texts["market.envs"] = 1
    if frozen_noise:
        texts["mechanism.frozen_noise"] = True
    market = Market(scenario, overrides=texts, seed=seed, device=device, threads=threads)
    strategies = list(strategies)
    N, T, S = market.agents, market.steps, market.slots
    _strategy_check(strategies, N)
    budgets = np.asarray(market.budgets, dtype=np.float64)
    cpa = np.asarray(market.cpa, dtype=np.float64) if market.cpa else np.full(N, np.inf)
    floor = market.budget_floor
    fields = ("return", "value", "cost", "wins", "exposures", "conversions", "budget_spent", "score")
    per_episode = {f: np.zeros((episodes, N)) for f in fields}
    buffers = _TickBuffers(N)
    start = time.perf_counter()
    episode_seconds = []
    for k in range(episodes):
        episode_start = time.perf_counter()
        market.reset(first_episode + k)
        for i, s in enumerate(strategies):
            s.budget = float(budgets[i])
            s.cpa = float(cpa[i])
            s.category = int(market.categories[i])
            s.reset()
            s.remaining_budget = float(budgets[i])
        # Per-agent history lists, grown by one view per tick of the tick's arrays.
        history_pvalue, history_bid, history_auction, history_impression = ([[] for _ in range(N)] for _ in range(4))
        history_lwc = []
        for t in range(T):
            M = int(market.next_step_offset[-1])
            tick = buffers.get(t, M)
            values = tick["values"]                                        # [2, N, M]: pValues, sigmas
            market.observe_impressions(out=values)
            pvalues, sigmas = _readonly(values[0]), _readonly(values[1])
            remaining = market.remaining_budget[0]
            bids = tick["bids"]                                            # [N, M]
            for i, s in enumerate(strategies):
                if not (remaining[i] >= floor and remaining[i] > 0):
                    bids[i] = 0  # AuctionNet: an agent under the floor is not asked and bids 0
                    continue
                _store_bids(s.bidding(t, pvalues[i], sigmas[i], list(history_pvalue[i]), list(history_bid[i]),
                                      list(history_auction[i]), list(history_impression[i]), list(history_lwc)),
                            bids[i], s, i, t)
            try:
                outcome = market.step_bids(bids, by_agent=True, negative_to_zero=True)
            except _bidsim.UsageError:
                if np.isfinite(bids).all():
                    raise
                raise _bad_bid(bids, strategies, t) from None
            remaining = market.remaining_budget[0]
            for i, s in enumerate(strategies):
                s.remaining_budget = float(remaining[i])
            # (won, slot, price) and (exposed, converted) of every cell: [M, N, k], written row by row
            # (streaming); agent i reads the [M, k] view [:, i].
            market.write_outcomes(tick["auction"], tick["impression"])
            least_winning_cost = tick["least_winning_cost"]
            least_winning_cost[:] = outcome["least_winning_cost"]
            # [N, M, 2] view of the [2, N, M] values: agent i's (pValue, sigma) pairs without a copy.
            pvalue_info = np.lib.stride_tricks.as_strided(values, shape=(N, M, 2),
                                                          strides=(values.strides[1], values.strides[2], values.strides[0]),
                                                          writeable=False)
            auction, impression, bid_history = _readonly(tick["auction"]), _readonly(tick["impression"]), _readonly(bids)
            for i in range(N):
                history_pvalue[i].append(pvalue_info[i])
                history_bid[i].append(bid_history[i])
                history_auction[i].append(auction[:, i])
                history_impression[i].append(impression[:, i])
            history_lwc.append(_readonly(least_winning_cost))
        row = {"return": market.reward[0], "value": market.value[0], "cost": market.cost[0],
               "wins": market.wins[0], "exposures": market.exposures[0], "conversions": market.conversions[0]}
        for f, values in row.items():
            per_episode[f][k] = values
        per_episode["budget_spent"][k] = np.where(budgets > 0, per_episode["cost"][k] / np.where(budgets > 0, budgets, 1), 0)
        per_episode["score"][k] = score(per_episode["conversions"][k], per_episode["cost"][k], cpa)
        episode_seconds.append(time.perf_counter() - episode_start)
    seconds = time.perf_counter() - start
    means = {f: per_episode[f].sum(axis=0) / episodes for f in fields}
    means["budget_spent"] = np.where(budgets > 0, means["cost"] / np.where(budgets > 0, budgets, 1), 0)  # as summary.json
    per_agent = {f: [float(x) for x in means[f]] for f in fields}
    return {"scenario": market.scenario_name, "seed": market.seed, "backend": market.backend, "episodes": episodes,
            "first_episode": first_episode, "frozen_noise": frozen_noise, "agents": N, "steps": T,
            "names": [getattr(s, "name", type(s).__name__) for s in strategies], "per_agent": per_agent,
            "score": float(sum(per_agent["score"])), "per_episode": per_episode, "seconds": seconds,
            "episode_seconds": episode_seconds}
