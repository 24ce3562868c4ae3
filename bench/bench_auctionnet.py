"""How fast bidsim.auctionnet plays AuctionNet-preset episodes with simple Python strategies.

Issue 16's target: a harness episode >= 10x faster than AuctionNet's own loop with the same strategies
(AuctionNet's loop takes 20-40 s an episode on our 2-core machine with simple strategies, ~43 s measured
in shared/data/auctionnet-preset.md). AuctionNet itself is not installed here and is not run by this
script: its figure is quoted, bidsim's is measured. Also times `bidsim`'s engine alone on the same
episodes (Market.step with the equivalent multipliers) so the harness's Python share shows.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_auctionnet.py [--episodes K] [--threads T] [OUT.json]
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import bidsim
from bidsim import auctionnet


def strategies(kind):
    if kind == "fixed":
        return [auctionnet.FixedAlphaStrategy(40.0 + 2.0 * i) for i in range(48)]
    return [auctionnet.PidPacingStrategy() for _ in range(48)]


def engine_only(episodes, threads):
    market = bidsim.Market("auctionnet", overrides={"market.envs": 1}, device="cpu", threads=threads)
    multipliers = np.asarray([40.0 + 2.0 * i for i in range(48)], dtype=np.float32)[None, :]
    start = time.perf_counter()
    for k in range(episodes):
        market.reset(k)
        while not market.done:
            market.step(multipliers)
    return (time.perf_counter() - start) / episodes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("out", nargs="?")
    args = parser.parse_args()
    report = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "episodes": args.episodes, "threads": args.threads, "auctionnet_own_loop_s_per_episode": "20-40 (quoted)"}
    for kind in ("fixed", "pid"):
        # One run of 1 + K episodes: the first also allocates the history buffers (fresh memory, slow on
        # a loaded VM); the K after it are the steady state a longer evaluation sees.
        result = auctionnet.run(strategies(kind), episodes=args.episodes + 1, device="cpu", threads=args.threads)
        first, steady = result["episode_seconds"][0], statistics.median(result["episode_seconds"][1:])
        report[f"harness_{kind}_first_episode_s"] = first
        report[f"harness_{kind}_s_per_episode"] = steady
        report[f"harness_{kind}_episodes_per_s"] = 1.0 / steady
        print(f"harness, {kind:5s} strategies: {steady:.3f} s an episode (median of {args.episodes} after the first, "
              f"which took {first:.3f} s), {1 / steady:.2f} episodes/s")
    report["engine_multiplier_steps_s_per_episode"] = engine_only(args.episodes, args.threads)
    print(f"engine alone (Market.step, same market): {report['engine_multiplier_steps_s_per_episode']:.3f} s an episode")
    print("AuctionNet's own loop: 20-40 s an episode on this machine class (quoted from issue 16; not run here)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
