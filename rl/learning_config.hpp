// Hyper-parameters of `bidsim train` / `bidsim evaluate`: the optional `learning:` section of a
// scenario file (validated here, strictly, like every other section) plus the command-line flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bidsim::rl {

enum class Algorithm { bpg, bpg_zero, independent, cooperative };  // order = YAML/CLI choice order
// sgd: the plain step of (14), θ ← θ − α1 Δθ (with α given per unit of social welfare, see trainer.hpp);
// adam: an option, Adam on the same direction. Order = YAML choice order (the first is the default).
enum class OptimizerKind { sgd, adam };

const char* to_string(Algorithm);
Algorithm parse_algorithm(const std::string& text);  // UsageError naming --algo otherwise

struct BestResponseConfig {
  int steps = 400;           // cap on the policy-gradient steps of each agent's best response
  int envs_per_agent = 8;    // environments per evaluated agent in each best-response batch
  int eval_envs_per_agent = 32;  // environments per agent on the report draws (the reported gains)
  int selection_envs_per_agent = 16;  // environments per agent on the selection draws (stopping, choice)
  int check_every = 10;      // best-response steps between held-out checks on the selection draws
  int patience = 3;          // stop after this many checks in which no agent's held-out gain rose ...
  double min_improvement = 0.0005;  // ... by more than this × social welfare (normalized like ε)
  double confidence = 0.95;  // level of the exploitability intervals, simultaneous over the agents
  int hidden = 16;           // width of each agent's private residual network
  double lr = 0.02;          // Adam step size
  double initial_log_std = -1.0;  // exploration noise of the deviating agent, log of σ in log-multiplier space
  int max_agents = 1000;     // above this many agents, a stated sample of agents is evaluated
};

struct LearningConfig {
  Algorithm algorithm = Algorithm::bpg;
  int iterations = 100;      // K outer iterations (Algorithm 1's repeat loop)
  double epsilon = 0.08;     // ε of the ε-NE constraint, normalized by social welfare (Table 1)
  double xi = 0.2;           // ξ floor of (8)-(11), normalized by social welfare like ε (see xi_margin)
  // ξ_k = max(ξ·W_k, (1 + xi_margin)·λ̄_k) each iteration, so (1 − ξ/λ̄) ≤ −xi_margin < 0 in (11): ν̄ ascends
  // the deviators' returns and the penalty of (10) dominates, as Theorem 5.2 (ξ large enough, eq. 64) asks.
  double xi_margin = 0.5;
  OptimizerKind optimizer = OptimizerKind::sgd;  // the step (14) of θ and ν̄ (and the baselines' θ)
  // α1, α2 of (14) for θ and ν̄, per unit of social welfare. The plain step needs them small: λ_i of (13)
  // are in return units and multiply the gradients, so the step grows with λ̄ (docs/bpg.md: 5e-4 trains
  // bpg-10, 3e-3 diverges). With optimizer: adam, about 0.01.
  double lr_policy = 5e-4;
  double lr_unified_optimizer = 5e-4;
  double lr_unified_solution = 0.002;  // Adam step size of x*'s policy gradient (step 2); 0.01-0.02 drift (docs/bpg.md)
  int unified_solution_steps = 2;      // x* policy-gradient steps per iteration (warm-started)
  int dual_envs_per_agent = 4;         // paired environments per agent when G_i(x*; θ) of (13) is measured
  // Cap on the dual batch: when N × dual_envs_per_agent exceeds it, each iteration measures a rotating
  // block of agents (the others keep their last λ_i), so an iteration's cost follows the batch, not N.
  int dual_max_envs = 256;
  int hidden = 64;                     // width of the two hidden layers of θ, ν̄ and x*
  double initial_multiplier = 1.0;     // every policy starts as N(log of this, σ0²) in log-multiplier space
  double initial_log_std = -1.0;       // log σ0
  double min_log_std = -4.0;           // the learned log σ is clamped below here (keeps log-probs finite)
  BestResponseConfig best_response;
};

// Reads the `learning:` section of `scenario_path` (after `overrides`, the same --set list the
// market uses) into a LearningConfig; an absent section gives the defaults. ScenarioError on any
// unknown key or out-of-range value, naming file, key, value and expectation.
LearningConfig load_learning_config(const std::string& scenario_path, const std::vector<std::string>& overrides);
LearningConfig parse_learning_config(const std::string& yaml_text, const std::string& source,
                                     const std::vector<std::string>& overrides);

}  // namespace bidsim::rl
