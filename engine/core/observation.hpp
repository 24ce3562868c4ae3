// Per-agent observation vectors (fields in market_state.hpp), written by both backends' hosts
// after every step. Static context (category, value scale, budget level, CPA) is normalized once.
#pragma once

#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/core/market_state.hpp"
#include "engine/core/observation_physics.hpp"

namespace bidsim {

struct ObservationContext {
  std::vector<float> category;     // [N] normalized category
  std::vector<float> value_scale;  // [N]
  std::vector<float> budget_level; // [N]
  std::vector<float> cpa_level;    // [N], 0 without CPA targets
  std::vector<double> budget;      // [N] initial budgets

  static ObservationContext from(const Scenario& scenario);
  AgentObservationStatics statics(int agent) const;  // what observe_agent needs of agent's context
};

// Writes observations of env `e` as seen before step `step` (state.step unless a step is in flight).
void write_observations(const ObservationContext& ctx, MarketState& state, int e, int step);

}  // namespace bidsim
