// The batch state of E environments x N agents, one array per field ([env][agent] order), plus the
// per-episode market parameters. Host copy; the CUDA backend mirrors it field by field on the device.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/money.hpp"

namespace bidsim {

// Observation vector of one agent, kObservationWidth floats, written after every step (and at reset).
enum ObservationField : int {
  kObsTimeLeft = 0,        // (T - t) / T, 1 at the first step, 1/T at the last
  kObsBudgetLeft,          // remaining budget / initial budget
  kObsLastWinRate,         // wins / impressions the agent bid on, previous step (0 at t = 0)
  kObsLastSpendShare,      // cost of the previous step / initial budget
  kObsLastValueShare,      // value won in the previous step / initial budget
  kObsLastPricePerWin,     // cost / wins in the previous step (0 without wins), money units
  kObsMeanWinRate,         // wins / impressions bid on, whole episode so far
  kObsSpendPace,           // share of budget spent / share of the episode elapsed (1 = on pace)
  kObsCategory,            // category / max(1, categories - 1), in [0, 1]
  kObsValueScale,          // the agent's value scale
  kObsBudgetLevel,         // initial budget / mean initial budget over agents
  kObsCpaTarget,           // CPA target / mean CPA target (0 when the scenario has no CPA)
  kObservationWidth
};

const char* observation_field_name(int field);

// Per-step outputs and episode totals per (env, agent), plus per-env market totals.
struct MarketState {
  int envs = 0, agents = 0, steps = 0;
  int step = 0;                    // next step to run, 0..T
  std::uint64_t episode = 0;       // reset counter; enters the global env index of every draw

  // [E][N] exact money (money.hpp: int64 ticks of 2^-24): the market's own accounts. Every money
  // field in double below is converted from these after each step (outputs and observations only).
  std::vector<Money> remaining_money;  // kUnlimitedMoney for an infinite budget
  std::vector<Money> cost_money, value_money;            // episode totals
  std::vector<Money> step_cost_money, step_value_money;  // the step just run
  std::vector<Money> revenue_money;                      // [E]

  // [E][N], money units (converted from the exact fields above)
  std::vector<double> remaining_budget;
  std::vector<double> cost;         // spent so far this episode
  std::vector<double> value;        // value won (exposed wins) so far
  std::vector<double> conversions;  // realized conversions so far
  std::vector<double> reward;       // return G_i so far under the scenario's reward (from the exact totals)
  std::vector<std::int64_t> wins;        // slots won (sold) so far
  std::vector<std::int64_t> exposures;   // won slots that were shown
  std::vector<std::int64_t> bid_count;   // impressions the agent bid on (qualifying bids)

  // [E][N], the step just run
  std::vector<double> step_cost, step_value, step_conversions, step_reward;
  std::vector<std::int32_t> step_wins, step_exposures, step_bid_count;
  std::vector<float> step_multiplier;    // the action applied (after clamping negatives to 0)

  // [E][N][kObservationWidth]
  std::vector<float> observation;

  // [E][T] impressions per step of this episode; [E][T] auction passes used by the overspend rule
  std::vector<std::int32_t> impressions;
  std::vector<std::int32_t> passes;
  // [E] revenue so far (sum of all agents' cost)
  std::vector<double> revenue;

  std::size_t index(int env, int agent) const {
    return static_cast<std::size_t>(env) * agents + agent;
  }
};

// Per-episode parameters of the AuctionNet value model.
struct AuctionNetEpisode {
  std::vector<float> mean;       // [E][T][N] pValue mean per (agent, tick)
  std::vector<float> std_dev;    // [E][T][N] pValue std per (agent, tick)
  std::vector<float> sigma_mean; // [E][N] m_a of the pValueSigma ratio
  std::vector<float> bound_lo;   // [E][N] u1: lower standardized truncation bound is -2 u1
  std::vector<float> bound_hi;   // [E][N] u2: upper bound is +2 u2
  std::vector<double> cdf_lo;    // [E][N] Φ(-2 u1)
  std::vector<double> cdf_hi;    // [E][N] Φ(+2 u2)
};

}  // namespace bidsim
