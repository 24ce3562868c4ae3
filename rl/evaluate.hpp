// Evaluation of a joint policy: social welfare, revenue, and per-agent exploitability
// max_π G_i(π; θ) - G_i(θ) by a best-response policy gradient with the others fixed (eq. 15), batched with
// one block of environments per evaluated agent; optionally G_i(x*; θ) of the unified solution (Table 3).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/config_types.hpp"
#include "engine/policies.hpp"  // with_builtin_policy: evaluate --policy
#include "rl/learning_config.hpp"
#include "rl/policy.hpp"

namespace bidsim::rl {

// The joint policy under test: a learned actor shared by all agents, or the scenario's built-in policies.
struct BasePolicy {
  Actor learned;         // empty: the scenario's built-in policies act
  std::string label;     // "checkpoint", "truthful", "constant:0.7", "scenario"
};


struct EvaluationResult {
  std::string label;
  int best_response_steps = 0, envs_per_agent = 0, eval_envs_per_agent = 0;
  std::vector<int> agents;                   // evaluated agents (all when N ≤ best_response.max_agents)
  double social_welfare = 0, revenue = 0;    // of the policy under test, mean over environments
  std::vector<double> returns, costs;        // [N] G_i(θ) and spend of every agent
  std::vector<double> base_returns;          // [n] G_i(θ) in the evaluated agent's own envs (paired draws)
  std::vector<double> best_response_returns; // [n] best found max_π G_i(π; θ)
  std::vector<double> exploitability;        // [n] max(0, best response - base), return units
  std::vector<double> unified_returns;       // [n] G_i(x*; θ) when a unified solution was given
  double max_exploitability = 0;             // eq. (15): max_i exploitability_i / social welfare
  double seconds = 0;
};

// The best response of agent i starts at the policy under test (a zero residual) and is trained by
// `config.best_response.steps` policy-gradient steps; its final return is measured on fresh draws shared
// with the base batch, with and without exploration noise, and the better one counts. Since π_i = θ
// itself is a candidate with gain 0, the exploitability reported is max(0, ·): a lower bound of the true
// max_π, tight as far as the best-response optimization is.
EvaluationResult evaluate_policy(const Scenario& scenario, const BasePolicy& base, const Actor& unified_solution,
                                 const LearningConfig& config, torch::Device device, std::uint64_t seed,
                                 int threads = 0);

}  // namespace bidsim::rl
