"""Seconds per AuctionNet-preset episode: bidsim.auctionnet against AuctionNet's own loop, side by side.

Issue 16's target: a harness episode >= 10x faster than AuctionNet's own loop with the same simple
strategies on the same machine. Both loops play the same 48 strategy objects (bidsim.auctionnet's
FixedAlphaStrategy and PidPacingStrategy, written to AuctionNet's interface) in one process, kind by
kind, one right after the other, so machine load hits both alike; the figure to read is the ratio.

AuctionNet's side runs its own `run/run_test.py` (`run_test`, unmodified, with its `config/test.gin`:
NeurIPSPvGen traffic, BiddingEnv, 48 agents x 48 ticks, 500k impressions an episode) from a checkout
given by --auctionnet DIR or $AUCTIONNET_DIR; nothing of it is copied here. Its Controller builds its
own agents, so the benchmark swaps in ours (Controller.initialize_agents and run_test's player agent),
and times each episode from one Controller.reset to the next. On Python >= 3.10 run_test.py's
`from collections import Iterable` needs the alias collections.Iterable = collections.abc.Iterable,
set here. Its imports need numpy, scipy, torch, pandas, psutil (Debian packages) and gin-config,
func_timeout, einops (not packaged in Debian: put their sources on PYTHONPATH, see docs/python.md).
Without a checkout the AuctionNet side is skipped with a message and the harness is measured alone.

Also times bidsim's engine alone on the same market (Market.step with the equivalent multipliers), so
the harness's Python share shows.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_auctionnet.py [--episodes K]
        [--auctionnet-episodes K2] [--auctionnet DIR] [--threads T] [OUT.json]
"""
import argparse
import collections
import collections.abc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import bidsim
from bidsim import auctionnet

AGENTS = 48


def strategies(kind):
    if kind == "fixed":
        return [auctionnet.FixedAlphaStrategy(40.0 + 2.0 * i) for i in range(AGENTS)]
    return [auctionnet.PidPacingStrategy() for _ in range(AGENTS)]


def engine_only(episodes, threads):
    market = bidsim.Market("auctionnet", overrides={"market.envs": 1}, device="cpu", threads=threads)
    multipliers = np.asarray([40.0 + 2.0 * i for i in range(AGENTS)], dtype=np.float32)[None, :]
    seconds = []
    for k in range(episodes):
        start = time.perf_counter()
        market.reset(k)
        while not market.done:
            market.step(multipliers)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def harness(kind, episodes, threads):
    """(seconds of each of 1 + `episodes` episodes, mean score) of bidsim.auctionnet.run."""
    # One run of 1 + K episodes: the first also maps the history buffers (fresh memory); the K after it
    # are the steady state a longer evaluation sees.
    result = auctionnet.run(strategies(kind), episodes=episodes + 1, device="cpu", threads=threads)
    return result["episode_seconds"], result["score"]


class AuctionNetLoop:
    """AuctionNet's run_test, imported from a checkout, with our strategies as its 48 agents."""

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        sys.path.insert(0, self.directory)
        collections.Iterable = collections.abc.Iterable  # run_test.py: `from collections import Iterable`
        previous = os.getcwd()
        os.chdir(self.directory)  # NeurIPSPvGen and gin read files relative to the checkout
        try:
            import gin
            import run.run_test as run_test
            from simul_bidding_env.Controller.Controller import Controller
        finally:
            os.chdir(previous)
        logging.getLogger().setLevel(logging.WARNING)  # run_test logs every episode at INFO
        self.gin, self.run_test, self.controller = gin, run_test, Controller
        self.commit = git_commit(self.directory)

    def episodes(self, kind, episodes):
        """Seconds of each episode (Controller.reset to the next) of run_test(num_episode=episodes)."""
        agents = strategies(kind)
        stamps = []
        controller, run_test = self.controller, self.run_test
        saved = controller.initialize_agents, controller.reset, run_test.initialize_player_agent
        original_reset = controller.reset

        def timed_reset(self, episode):
            stamps.append(time.perf_counter())
            original_reset(self, episode)

        previous = os.getcwd()
        os.chdir(self.directory)
        try:
            self.gin.clear_config()
            self.gin.parse_config_files_and_bindings(["config/test.gin"], [f"run_test.num_episode = {episodes}"])
            controller.initialize_agents = lambda self: list(agents)
            controller.reset = timed_reset
            run_test.initialize_player_agent = lambda: agents[0]  # run_test wraps it as player 0
            run_test.run_test(player_index=0)
            stamps.append(time.perf_counter())
        finally:
            controller.initialize_agents, controller.reset, run_test.initialize_player_agent = saved
            os.chdir(previous)
        return [b - a for a, b in zip(stamps, stamps[1:])]


def git_commit(directory):
    try:
        return subprocess.run(["git", "-C", directory, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3, help="harness episodes after the first (default 3)")
    parser.add_argument("--auctionnet-episodes", type=int, default=2, help="AuctionNet episodes per kind (default 2)")
    parser.add_argument("--auctionnet", default=os.environ.get("AUCTIONNET_DIR"),
                        help="a checkout of alimama-tech/AuctionNet (default $AUCTIONNET_DIR)")
    parser.add_argument("--auctionnet-commit", help="AuctionNet's commit, for the report when DIR is not a git checkout")
    parser.add_argument("--threads", type=int, default=0, help="engine threads (0: every core)")
    parser.add_argument("out", nargs="?", help="write the figures as JSON here")
    args = parser.parse_args()
    if args.episodes < 1 or args.auctionnet_episodes < 1:
        print("bench_auctionnet: --episodes and --auctionnet-episodes: expected integers >= 1", file=sys.stderr)
        sys.exit(2)
    own = None
    if args.auctionnet:
        try:
            own = AuctionNetLoop(args.auctionnet)
        except ImportError as error:
            print(f"bench_auctionnet: AuctionNet's loop skipped: {args.auctionnet}: {error} (see docs/python.md)",
                  file=sys.stderr)
    else:
        print("bench_auctionnet: AuctionNet's loop skipped: no --auctionnet DIR / $AUCTIONNET_DIR "
              "(a checkout of alimama-tech/AuctionNet; see docs/python.md)", file=sys.stderr)
    report = {"benchmark": "AuctionNet-preset episodes, bidsim.auctionnet vs AuctionNet's run_test (bench/bench_auctionnet.py)",
              "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
              "commit": git_commit(os.path.dirname(os.path.abspath(__file__))),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_average_before": os.getloadavg(),
              "threads": args.threads, "harness_episodes": args.episodes,
              "auctionnet_commit": (own.commit or args.auctionnet_commit) if own else None,
              "auctionnet_episodes": args.auctionnet_episodes if own else 0}
    for kind in ("fixed", "pid"):
        seconds, score = harness(kind, args.episodes, args.threads)
        first, steady = seconds[0], statistics.median(seconds[1:])
        report[f"harness_{kind}_episode_s"] = seconds
        report[f"harness_{kind}_first_episode_s"] = first
        report[f"harness_{kind}_s_per_episode"] = steady
        report[f"harness_{kind}_mean_score_sum"] = score
        print(f"bidsim harness, {kind:5s} strategies: {steady:.3f} s an episode (median of {args.episodes} after the "
              f"first, which took {first:.3f} s)", flush=True)
        if own:
            seconds = own.episodes(kind, args.auctionnet_episodes)
            report[f"auctionnet_{kind}_episode_s"] = seconds
            report[f"auctionnet_{kind}_s_per_episode"] = statistics.median(seconds)
            report[f"ratio_{kind}"] = statistics.median(seconds) / steady
            print(f"AuctionNet run_test,  {kind:5s} strategies: {statistics.median(seconds):.3f} s an episode (median "
                  f"of {len(seconds)}): bidsim is {report[f'ratio_{kind}']:.1f}x faster", flush=True)
    report["engine_multiplier_steps_s_per_episode"] = engine_only(args.episodes, args.threads)
    report["load_average_after"] = os.getloadavg()
    print(f"bidsim engine alone (Market.step, same market): {report['engine_multiplier_steps_s_per_episode']:.3f} s "
          "an episode")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
