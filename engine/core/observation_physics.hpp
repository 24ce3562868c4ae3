// One agent's observation vector (fields in market_state.hpp) as a host+device function, so the CPU
// backend (observation.cpp) and the CUDA observation kernel compute the same floats.
#pragma once

#include <cstdint>

#include "engine/core/host_device.hpp"
#include "engine/core/market_state.hpp"

namespace bidsim {

// Static per-agent normalizations, computed once per scenario (ObservationContext::from).
struct AgentObservationStatics {
  float category, value_scale, budget_level, cpa_level;
  double budget_denominator;  // initial budget when finite and positive, else 1
  bool bounded;               // finite initial budget
};

// What the agent's state says before step `step` of T (last step's outputs and episode totals).
struct AgentObservationState {
  double remaining_budget, step_cost, step_value, cost;
  std::int32_t step_wins, step_bid_count;
  std::int64_t wins, bid_count;
};

BIDSIM_HD void observe_agent(const AgentObservationStatics& c, const AgentObservationState& a, int step,
                             int steps, float* o) {
  const int T = steps, t = step;
  const double budget = c.budget_denominator;
  const double elapsed = double(t) / T;
  o[kObsTimeLeft] = float(T - t) / float(T);
  o[kObsBudgetLeft] = c.bounded ? float(a.remaining_budget / budget) : 1.0f;
  o[kObsLastWinRate] = a.step_bid_count > 0 ? float(a.step_wins) / float(a.step_bid_count) : 0.0f;
  o[kObsLastSpendShare] = float(a.step_cost / budget);
  o[kObsLastValueShare] = float(a.step_value / budget);
  o[kObsLastPricePerWin] = a.step_wins > 0 ? float(a.step_cost / a.step_wins) : 0.0f;
  o[kObsMeanWinRate] = a.bid_count > 0 ? float(double(a.wins) / double(a.bid_count)) : 0.0f;
  o[kObsSpendPace] = t > 0 && c.bounded ? float((a.cost / budget) / elapsed) : 1.0f;
  o[kObsCategory] = c.category;
  o[kObsValueScale] = c.value_scale;
  o[kObsBudgetLevel] = c.budget_level;
  o[kObsCpaTarget] = c.cpa_level;
}

}  // namespace bidsim
