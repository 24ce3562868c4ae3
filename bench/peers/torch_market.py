#!/usr/bin/env python3
"""The market step of bench/peer_market.hpp written the way a user without bidsim would: vectorized
PyTorch. Reads the inputs and bidsim's outputs that bench_cuda (BM_PeerStep, CUDA backend) or
bench_market (BM_PeerStepCpu, CPU backend) wrote to $BIDSIM_PEER_DUMP, runs the same GSP step
(bid = multiplier x value, bids >= reserve qualify, top S+1 by bid, slot k pays max(next bid, reserve)
rounded to float32, everything exposed and charged, budgets unlimited) on the device of the dump's
backend (the GPU, or the CPU with the same thread count), checks its per-agent outputs equal bidsim's,
and times it (CUDA events, or the wall clock on the CPU; median of 20 after 3 warm-ups). Prints one
JSON object; exit 1 when the outputs differ.

usage: torch_market.py DUMP [--out result.json] [--device cpu]

--device cpu runs the peer on the CPU whatever the dump's backend: it checks a CUDA dump's outputs
on a machine without a GPU (e.g. one written on the host emulator, cuda/emulation/); the times are
then not comparable and no speedup is reported.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch


def load(path):
    raw = open(path, "rb").read()
    n, m, k, s, backend, threads = np.frombuffer(raw, np.int32, 6, 0)
    reserve, bidsim_ms = np.frombuffer(raw, np.float64, 2, 24)
    off = 40
    def take(dtype, count):
        nonlocal off
        a = np.frombuffer(raw, dtype, count, off)
        off += a.nbytes
        return a
    d = dict(N=int(n), M=int(m), K=int(k), S=int(s), reserve=float(reserve), bidsim_ms=float(bidsim_ms),
             backend="cuda" if backend == 1 else "cpu", threads=int(threads))
    d["agent"] = take(np.int32, m * k).reshape(m, k)
    d["value"] = take(np.float32, m * k).reshape(m, k)
    d["multiplier"] = take(np.float32, n)
    d["wins"] = take(np.int64, n)
    d["cost"] = take(np.float64, n)
    d["value_won"] = take(np.float64, n)
    d["bid_count"] = take(np.int32, n)
    assert off == len(raw), "dump size does not match its header"
    return d


def market_step(agent, value, multiplier, reserve, slots):
    """One GSP step over [M, K] candidate rows; returns per-agent wins, cost, value won, bid count, and
    the kept top S+1 bids with their positions (for the tie check, outside the timing)."""
    n = multiplier.shape[0]
    bid = multiplier[agent] * value                                   # [M, K] float32
    qualifies = (bid > 0) & (bid.double() >= reserve)
    bid = torch.where(qualifies, bid, torch.zeros_like(bid))
    top_bid, top_pos = torch.topk(bid, slots + 1, dim=1)              # [M, S+1]
    winner = torch.gather(agent, 1, top_pos[:, :slots])              # [M, S]
    won_value = torch.gather(value, 1, top_pos[:, :slots])
    sold = top_bid[:, :slots] > 0
    price = torch.maximum(top_bid[:, 1:].double(), torch.tensor(reserve, dtype=torch.float64, device=bid.device))
    price = price.float().double()                                    # bidsim stores prices as float32
    winner, price, won_value = winner[sold].long(), price[sold], won_value[sold].double()
    wins = torch.bincount(winner, minlength=n)
    cost = torch.zeros(n, dtype=torch.float64, device=bid.device).index_add_(0, winner, price)
    value_won = torch.zeros(n, dtype=torch.float64, device=bid.device).index_add_(0, winner, won_value)
    bid_count = torch.bincount(agent[qualifies].long(), minlength=n)
    # Rows whose kept bids tie: bidsim breaks those with counter-based keys, topk arbitrarily.
    return wins, cost, value_won, bid_count, top_bid, top_pos


def tied_agents(agent, top_bid, top_pos):
    """Agents in a tie among the kept bids (both sides of each equal adjacent pair of the top S+1):
    bidsim breaks those with counter-based keys, topk arbitrarily, so they may swap slots."""
    equal_next = (top_bid[:, :-1] == top_bid[:, 1:]) & (top_bid[:, 1:] > 0)     # [M, S]
    in_tie = torch.zeros_like(top_bid, dtype=torch.bool)
    in_tie[:, :-1] |= equal_next
    in_tie[:, 1:] |= equal_next
    return torch.unique(torch.gather(agent, 1, top_pos)[in_tie])


def median_time_ms(step, dev, repeats=20, warmups=3):
    """Median step time: CUDA events on a GPU, the wall clock on the CPU. Returns (ms, last output)."""
    for _ in range(warmups):
        out = step()
    times = []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize()
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = step()
            stop.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(stop))
        else:
            start = time.perf_counter()
            out = step()
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2], out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump")
    ap.add_argument("--out")
    ap.add_argument("--device", choices=["auto", "cpu"], default="auto")
    args = ap.parse_args()
    d = load(args.dump)
    cross_device = args.device == "cpu" and d["backend"] == "cuda"
    if d["backend"] == "cuda" and not cross_device:
        if not torch.cuda.is_available():
            print(json.dumps({"skipped": "the dump is from the CUDA backend and PyTorch sees no CUDA device"}))
            return 0
        dev = torch.device("cuda")
        device_name = torch.cuda.get_device_name(0)
    else:
        dev = torch.device("cpu")
        if d["threads"] > 0:
            torch.set_num_threads(d["threads"])
        device_name = f"CPU, {torch.get_num_threads()} threads"
    # int64 indices: what indexing wants (PyTorch 1.x refuses int32 index tensors), converted once.
    agent = torch.from_numpy(d["agent"].astype(np.int64)).to(dev)
    value = torch.from_numpy(d["value"].copy()).to(dev)
    multiplier = torch.from_numpy(d["multiplier"].copy()).to(dev)
    step = lambda: market_step(agent, value, multiplier, d["reserve"], d["S"])
    torch_ms, out = median_time_ms(step, dev)
    wins, cost, value_won, bid_count, top_bid, top_pos = out
    in_ties = tied_agents(agent, top_bid, top_pos).cpu().numpy()
    wins, cost, value_won, bid_count = (x.cpu().numpy() for x in (wins, cost, value_won, bid_count))
    # Counts exactly, money to 1e-9 relative (the same float32 terms summed in float64 in another
    # order), for every agent outside a tie; the agents of ties may trade wins among themselves, so
    # over them only the totals of wins and cost must agree (tied bids pay the same prices).
    free = np.ones(d["N"], dtype=bool)
    free[in_ties] = False
    checks = {
        "wins_equal": bool(np.array_equal(wins[free], d["wins"][free])),
        "bid_count_equal": bool(np.array_equal(bid_count, d["bid_count"].astype(np.int64))),
        "cost_close": bool(np.allclose(cost[free], d["cost"][free], rtol=1e-9, atol=1e-9)),
        "value_close": bool(np.allclose(value_won[free], d["value_won"][free], rtol=1e-9, atol=1e-9)),
        "tied_wins_total_equal": bool(wins[~free].sum() == d["wins"][~free].sum()),
        "tied_cost_total_close": bool(np.isclose(cost[~free].sum(), d["cost"][~free].sum(), rtol=1e-9, atol=1e-9)),
    }
    result = {
        "peer": "vectorized PyTorch " + torch.__version__,
        "device": device_name,
        "market": {k: d[k] for k in ("N", "M", "K", "S", "reserve")},
        "bidsim_backend": d["backend"],
        "bidsim_step_ms": d["bidsim_ms"],
        "torch_step_ms": torch_ms,
        "speedup": torch_ms / d["bidsim_ms"] if d["bidsim_ms"] > 0 and not cross_device else None,
        "outputs_equal": all(checks.values()),
        "agents_in_ties": int((~free).sum()),
        "checks": checks,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        open(args.out, "w").write(text + "\n")
    return 0 if result["outputs_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
