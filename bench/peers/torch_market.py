#!/usr/bin/env python3
"""The market step of bench_cuda's BM_PeerStep written the way a user without bidsim would: vectorized
PyTorch on the same GPU. Reads the inputs and the CUDA backend's outputs that bench_cuda wrote to
$BIDSIM_PEER_DUMP (layout in bench/bench_cuda.cpp), runs the same GSP step (bid = multiplier x value,
bids >= reserve qualify, top S+1 by bid, slot k pays max(next bid, reserve) rounded to float32,
everything exposed and charged, budgets unlimited), checks its per-agent outputs equal bidsim's, and
times it with CUDA events (median of 20 after 3 warm-ups). Prints one JSON object.

usage: torch_market.py DUMP [--out result.json]
"""
import argparse
import json
import sys

import numpy as np
import torch


def load(path):
    raw = open(path, "rb").read()
    n, m, k, s = np.frombuffer(raw, np.int32, 4, 0)
    reserve, cuda_ms = np.frombuffer(raw, np.float64, 2, 16)
    off = 32
    def take(dtype, count):
        nonlocal off
        a = np.frombuffer(raw, dtype, count, off)
        off += a.nbytes
        return a
    d = dict(N=int(n), M=int(m), K=int(k), S=int(s), reserve=float(reserve), cuda_ms=float(cuda_ms))
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
    """One GSP step over [M, K] candidate rows; returns per-agent wins, cost, value won, bid count."""
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
    tied_rows = ((top_bid[:, :-1] == top_bid[:, 1:]) & (top_bid[:, 1:] > 0)).any(dim=1).sum()
    return wins, cost, value_won, bid_count, tied_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump")
    ap.add_argument("--out")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device for PyTorch"}))
        return 0
    d = load(args.dump)
    dev = torch.device("cuda")
    agent = torch.from_numpy(d["agent"].copy()).to(dev)
    value = torch.from_numpy(d["value"].copy()).to(dev)
    multiplier = torch.from_numpy(d["multiplier"].copy()).to(dev)
    step = lambda: market_step(agent, value, multiplier, d["reserve"], d["S"])
    for _ in range(3):
        out = step()
    torch.cuda.synchronize()
    times = []
    for _ in range(20):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = step()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    torch_ms = times[len(times) // 2]
    wins, cost, value_won, bid_count, tied_rows = (x.cpu().numpy() for x in out)
    # Counts exactly; money to 1e-9 relative (the same float32 terms summed in float64 in another order).
    checks = {
        "wins_equal": bool(np.array_equal(wins, d["wins"])),
        "bid_count_equal": bool(np.array_equal(bid_count, d["bid_count"].astype(np.int64))),
        "cost_close": bool(np.allclose(cost, d["cost"], rtol=1e-9, atol=1e-9)),
        "value_close": bool(np.allclose(value_won, d["value_won"], rtol=1e-9, atol=1e-9)),
    }
    result = {
        "peer": "vectorized PyTorch " + torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "market": {k: d[k] for k in ("N", "M", "K", "S", "reserve")},
        "bidsim_cuda_step_ms": d["cuda_ms"],
        "torch_step_ms": torch_ms,
        "speedup": torch_ms / d["cuda_ms"] if d["cuda_ms"] > 0 else None,
        "outputs_equal": all(checks.values()),
        "tied_rows": int(tied_rows),  # > 0 may explain a wins mismatch (tie rules differ)
        "checks": checks,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        open(args.out, "w").write(text + "\n")
    return 0 if result["outputs_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
