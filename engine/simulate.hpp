// One batch of episodes driven by the built-in policies, reduced to what `bidsim simulate` reports:
// per-step market rows and per-agent episode means over the E environments.
#pragma once

#include <vector>

#include "engine/policies.hpp"
#include "engine/simulator.hpp"

namespace bidsim {

// Means over environments of one step's market totals.
struct StepRecord {
  int step = 0;
  double impressions = 0, passes = 0, active_agents = 0;
  double value = 0, cost = 0, conversions = 0, reward = 0;
  double wins = 0, exposures = 0, mean_multiplier = 0;
};

struct SimulationResult {
  int envs = 0, agents = 0, steps = 0;
  double impressions = 0;        // per environment (episode), mean
  double social_welfare = 0;     // Σ_i G_i, mean over environments
  double revenue = 0;            // Σ_i cost_i, mean over environments
  double passes_per_step = 0;    // auction passes per step (overspend rule), mean
  double seconds = 0;            // wall time of the episode loop (policies + market steps)
  bool has_score = false;        // CPA targets given: AuctionNet score reported
  // per agent, means over environments
  std::vector<double> value, cost, reward, conversions, wins, exposures, score, budget_spent;
  std::vector<StepRecord> steps_record;
};

SimulationResult simulate(Simulator& simulator, BuiltinPolicies& policies);

}  // namespace bidsim
