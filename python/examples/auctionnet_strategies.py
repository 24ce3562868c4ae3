"""AuctionNet-style strategies on bidsim's `auctionnet` preset: a PID-pacing agent per category against
fixed-alpha opponents, through bidsim.auctionnet (AuctionNet's strategy interface and loop semantics).

    PYTHONPATH=build/python /usr/bin/python3 python/examples/auctionnet_strategies.py [--episodes K]
        [--impressions TOTAL] [--frozen-noise]

Prints the score of every strategy kind (AuctionNet's score, summed over its agents, mean over episodes).
"""
import argparse

import numpy as np

from bidsim import auctionnet


class CpaBidder(auctionnet.BaseBiddingStrategy):
    """Bids its CPA target x pValue: the value of a conversion it can afford (bidsim's `cpa` policy)."""

    def bidding(self, timeStepIndex, pValues, pValueSigmas, historyPValueInfo, historyBid,
                historyAuctionResult, historyImpressionResult, historyLeastWinningCost):
        return np.float32(self.cpa) * pValues


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--impressions", type=int, default=500000, help="impressions per episode (AuctionNet: 500000)")
    parser.add_argument("--frozen-noise", action="store_true", help="AuctionNet's default_rng(1) noise reuse")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)

    # Agent 8c is a PID pacer in each category c, agents 8c+1..8c+3 bid a fixed alpha, the rest their CPA.
    strategies = []
    for i in range(48):
        if i % 8 == 0:
            strategies.append(auctionnet.PidPacingStrategy(name="pid"))
        elif i % 8 <= 3:
            strategies.append(auctionnet.FixedAlphaStrategy(60.0 * (i % 8), name="fixed"))
        else:
            strategies.append(CpaBidder(name="cpa"))
    result = auctionnet.run(strategies, episodes=args.episodes, overrides={"impressions.total": args.impressions},
                            frozen_noise=args.frozen_noise, threads=args.threads)
    scores = np.asarray(result["per_agent"]["score"])
    names = np.asarray(result["names"])
    print(f"{result['episodes']} episode(s) of {result['scenario']} on {result['backend']}, "
          f"frozen noise {'on' if result['frozen_noise'] else 'off'}: {result['seconds']:.2f} s "
          f"({result['seconds'] / result['episodes']:.2f} s an episode)")
    for kind in ("pid", "fixed", "cpa"):
        mine = names == kind
        print(f"  {kind:6s} {mine.sum():2d} agents  score {scores[mine].sum():9.2f}  "
              f"conversions {np.asarray(result['per_agent']['conversions'])[mine].sum():8.1f}  "
              f"budget spent {np.asarray(result['per_agent']['budget_spent'])[mine].mean():.3f}")
    print(f"  total score {result['score']:.2f}")
    return result


if __name__ == "__main__":
    main()
