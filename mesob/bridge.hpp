// The bridge from the mean-field model to the N-agent engine: run a mean-field policy with N agents
// (states = CTR levels as per-agent values, bids = bid levels as multipliers, sparse candidates with n
// bidders per auction) and compare simulated win rates and payments per (s, a) with eqs. (8)–(9).
#pragma once

#include <cstdint>
#include <vector>

#include "mesob/mean_field.hpp"
#include "mesob/mesob_scenario.hpp"

namespace bidsim::mesob {

// One (state, action) pair, summed over every step of every environment.
struct BridgeRow {
  int state = 0, action = 0;
  double score = 0;                 // ctr × bid
  long long participations = 0;     // auctions the pair's agents took part in
  long long wins = 0;
  double cost = 0;                  // total payments (second score)
  double win_rate = 0, win_rate_closed = 0, win_rate_se = 0;   // simulated, eq. (8) P1 + P2, std. error
  double payment = 0, payment_closed = 0, payment_se = 0;      // per auction: simulated, CPC of Appendix A
  bool compared = false;            // false for score 0: the engine treats a zero bid as no bid
};

struct BridgeResult {
  int agents = 0, impressions = 0, envs = 0, steps = 0;
  std::vector<BridgeRow> rows;      // [S*A]
  double max_win_z = 0;             // max |simulated − closed| / std. error over compared pairs
  double max_payment_z = 0;
};

// Agents get states by largest-remainder quotas of μ0 and, at each step t, bid levels by quotas of
// π_t(·|s) within their state, so the realized population is L_t up to rounding; closed forms are
// evaluated at that realized population. Deterministic for a given seed.
BridgeResult run_bridge(const AuctionGame& game, const Policy& policy, const BridgeConfig& config,
                        std::uint64_t seed, int threads = 0);

}  // namespace bidsim::mesob
