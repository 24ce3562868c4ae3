// Evaluation of a joint policy θ: social welfare, revenue, and per-agent exploitability
// max_π G_i(π; θ) - G_i(θ) (eq. 15 of the BPG paper) estimated by batched best responses, with a
// confidence interval per agent; and the Table-3 ratios R(θ)/R*, R(x*)/R* of the unified solution x*.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/facade/policies.hpp"  // with_builtin_policy: evaluate --policy
#include "rl/confidence.hpp"
#include "rl/learning_config.hpp"
#include "rl/policy.hpp"

namespace bidsim::rl {

// The joint policy under test: a learned actor shared by all agents, or the scenario's built-in policies.
struct BasePolicy {
  Actor learned;         // empty: the scenario's built-in policies act
  std::string label;     // "checkpoint", "truthful", "constant:0.7", "scenario"
};

// The deviations agent i may take in place of θ. Each is measured with agent i alone deviating and
// the others on θ; "_mean" acts with the policy's mean (no exploration noise).
enum class Candidate { policy, policy_mean, best_response, best_response_mean, unified, unified_mean };
inline constexpr int kCandidates = 6;
const char* to_string(Candidate);
bool is_deterministic(Candidate);

// One candidate of one agent. Gains are paired differences G_i(candidate; θ) - G_i(θ) on common random
// numbers (same market draws, same exploration noise of the other agents).
struct CandidateEstimate {
  bool available = false;      // policy_mean needs a learned θ, unified* a checkpoint with x*
  double selection_gain = 0;   // mean gain on the selection draws: what the choice is made on
  double report_return = 0;    // mean G_i on the report draws
  MeanInterval report_gain;    // gain on the report draws (simultaneous interval, see EvaluationResult)
};

// Table 3 in one measurement mode (all stochastic, or all deterministic): R* is the best of the
// mode's candidates (θ, the best response, x*), chosen on the selection draws and reported on the
// report draws, like R(θ) and R(x*) beside it.
struct Table3Row {
  Candidate star = Candidate::policy;  // the candidate that gave R*
  double r_policy = 0, r_unified = 0, r_star = 0;
  RatioInterval policy_ratio, unified_ratio;  // R(θ)/R*, R(x*)/R* with delta-method intervals
};

struct AgentEvaluation {
  int agent = 0;
  double base_return = 0;  // G_i(θ) on the report draws
  std::array<CandidateEstimate, kCandidates> candidates;
  Candidate chosen = Candidate::policy;  // argmax of the selection gain over every available candidate
  MeanInterval exploitability;           // the chosen candidate's gain on the report draws
  int best_response_step = 0;            // step of the kept best-response snapshot (0: its initial θ)
  Table3Row stochastic, deterministic;
};

// One held-out check of the best-response training: gains of the current best responses on the
// selection draws (the better of stochastic and deterministic per agent), return units.
struct CurvePoint {
  int step = 0;
  double mean_gain = 0, max_gain = 0;
  int improved_agents = 0;  // agents whose best held-out gain rose by more than the threshold here
};

struct EvaluationResult {
  std::string label;
  int best_response_steps = 0;  // steps actually run (the stopping rule may end before the cap)
  int max_best_response_steps = 0, envs_per_agent = 0, selection_envs_per_agent = 0, eval_envs_per_agent = 0;
  std::string stop_reason;
  double confidence = 0.95;
  std::vector<int> agents;                   // evaluated agents (all when N ≤ best_response.max_agents)
  double social_welfare = 0, revenue = 0;    // of the policy under test on the report draws
  std::vector<double> returns, costs;        // [N] G_i(θ) and spend of every agent, report draws
  std::vector<AgentEvaluation> per_agent;    // [n] in `agents` order
  std::vector<double> exploitability;        // [n] per_agent[k].exploitability.mean, return units
  std::vector<CurvePoint> curve;             // held-out checks of the best-response training
  // Eq. (15): max_i exploitability_i / social welfare, and the interval [max_i low_i, max_i high_i] / SW,
  // which holds with probability ≥ `confidence` because the per-agent intervals are simultaneous.
  double max_exploitability = 0, max_exploitability_low = 0, max_exploitability_high = 0;
  bool has_unified = false;
  double seconds = 0;
  std::string market_backend;  // the engine backend its batches stepped ("cpu" or "cuda")
};

// Complies with the ε-NE constraint only when the upper end of max exploitability's interval is within
// ε: a point estimate within ε whose interval reaches above it is not evidence of compliance.
inline bool complies(const EvaluationResult& e, double epsilon) { return e.max_exploitability_high <= epsilon; }

// Progress of a running evaluation, in environment-episodes (one environment run for T steps): work
// done, and an upper bound of the total (the stopping rule may end the best responses early).
struct EvaluationProgress {
  const char* phase = "";
  int step = 0, max_steps = 0;   // best-response steps so far, and the cap
  double done = 0, total = 0;
};
using ProgressCallback = std::function<void(const EvaluationProgress&)>;

// How the estimate is made (docs/exploitability.md):
//  1. Every evaluated agent gets a residual best response starting at θ (gain 0), trained by policy
//     gradient with θ's paired return-to-go as baseline, on the *training* draws.
//  2. Every `check_every` steps the best responses are measured on the *selection* draws (fixed, so the
//     curve is a paired comparison across checks); each agent keeps its best snapshot. Training stops
//     when for `patience` checks no agent improved by more than `min_improvement` × social welfare,
//     or at `steps`.
//  3. Each agent's candidate deviations (θ, θ's mean, the best response and its mean, x* and its mean)
//     are compared on the selection draws; the winner is measured on the *report* draws, independent
//     of both others, so the reported gain is not biased up by the choice. Its interval is Student-t
//     on the paired differences, Bonferroni-simultaneous over the evaluated agents.
// The estimate targets the gain of the best deviation found, a lower bound of max_π G_i(π; θ) - G_i(θ);
// how close it gets is measured on markets with closed-form answers (tests/test_exploitability.cpp).
EvaluationResult evaluate_policy(const Scenario& scenario, const BasePolicy& base, const Actor& unified_solution,
                                 const LearningConfig& config, torch::Device device, std::uint64_t seed,
                                 int threads = 0, const ProgressCallback& progress = {});

}  // namespace bidsim::rl
