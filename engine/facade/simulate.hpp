// One batch of episodes driven by the built-in policies, reduced to what `bidsim simulate` reports:
// per-step market rows and per-agent episode means over the E environments. Split in two so a
// sharded batch (MPI ranks) can gather the per-environment records and reduce them in env order.
#pragma once

#include <functional>
#include <vector>

#include "engine/facade/policies.hpp"
#include "engine/facade/simulator.hpp"

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

// What one episode left per environment, before any reduction over environments. Every reduction
// in reduce_episodes() walks environments in index order, so records gathered from shards in env
// order reduce to the same bits as the unsplit batch.
struct EpisodeRecords {
  // Per-step sums within one environment, in this order.
  enum StepField : int { kImpressions, kPasses, kActiveAgents, kMeanMultiplier, kValue, kCost, kConversions,
                         kReward, kWins, kExposures, kStepFields };
  int envs = 0, agents = 0, steps = 0;
  std::vector<double> step_sums;  // [E][T][kStepFields]; mean_multiplier is the env's mean over active agents
  // [E][N] episode totals per agent
  std::vector<double> value, cost, reward, conversions, wins, exposures;
  std::vector<double> revenue;    // [E]
  double seconds = 0;             // wall time of the episode loop (policies + market steps)
};

// Called after each step with the steps done and the episode length (progress of long batches).
using StepObserver = std::function<void(int steps_done, int steps)>;
// Runs one episode of the simulator's (local) batch with the built-in policies.
EpisodeRecords run_episode(Simulator& simulator, BuiltinPolicies& policies, const StepObserver& on_step = {});
// Means over the environments of `records` (the whole batch, in env order).
SimulationResult reduce_episodes(const Scenario& scenario, const EpisodeRecords& records);

SimulationResult simulate(Simulator& simulator, BuiltinPolicies& policies);  // run_episode + reduce_episodes


}  // namespace bidsim
