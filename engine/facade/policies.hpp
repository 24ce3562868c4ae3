// Built-in bidding policies that need no learning (constant, truthful, PID pacing, CPA), and the
// policy slot of every (environment, agent) pair. They drive `simulate` and serve as baselines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/core/market_state.hpp"

namespace bidsim {

class BuiltinPolicies {
 public:
  explicit BuiltinPolicies(const Scenario& scenario);

  // Clears controller state for new episodes.
  void reset();
  // Writes the bid multiplier of every (env, agent) for the state's current step ([E][N]).
  void act(const MarketState& state, float* multipliers);

  // Policy index (into Scenario::policies) acting for (env, agent), [E][N].
  const std::vector<std::int32_t>& slots() const { return slot_; }

 private:
  const Scenario scenario_;  // owned copy, so a temporary scenario cannot dangle
  std::vector<std::int32_t> slot_;
  std::vector<double> target_share_;  // [T+1] budget share a paced agent has spent before step t
  std::vector<double> integral_;      // [E][N] PID integral of the pacing error
  std::vector<double> last_error_;    // [E][N]
};

// `scenario` with every agent on the built-in policy `spec`: "truthful", "constant:X" (X >= 0), or
// "scenario" (the scenario's own policies, unchanged). Deviations are dropped. UsageError naming
// --policy otherwise. Used by `evaluate --policy` and `rollout --policy`.
Scenario with_builtin_policy(const Scenario& scenario, const std::string& spec);

}  // namespace bidsim
