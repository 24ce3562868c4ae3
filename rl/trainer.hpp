// Training algorithms on one rollout collector: BPG (Algorithm 1 of the BPG paper: weighted POMDP,
// unified solution x*, dual update (13), primal update (11)/(14)), its §6.3 ablation bpg_zero, and the
// independent / cooperative baselines. Checkpoints hold everything a bit-identical resume needs.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/config_types.hpp"
#include "rl/learning_config.hpp"
#include "rl/policy.hpp"
#include "rl/rollout.hpp"

namespace bidsim::rl {

using Gradient = std::vector<torch::Tensor>;  // one tensor per parameter of a module, same order

// --- the gradient terms (Table 4), as Monte Carlo policy-gradient estimates ------------------------
// All are ascent directions of returns: ∇ of an expected return, never of a loss.

// L1(θ) = Σ_i (1+λ_i) ∇θ G_i(θ) (eq. 29/33): every agent's log-prob times the (1+λ)-weighted social
// return-to-go, on a batch where every agent follows θ. λ = 0 gives the cooperative gradient.
Gradient cooperative_gradient(BidPolicy theta, const Trajectory& all_theta, const std::vector<double>& lambda);
// Σ_i ∇θ G_i(θ) with each agent credited only with its own return-to-go (the independent baseline).
Gradient independent_gradient(BidPolicy theta, const Trajectory& all_theta);
// L_s(θ, ν̄) and L'_g(θ, ν̄) (Table 4, eq. 12) from one batch where agent d_e of env e follows ν̄ and the
// others θ, with d_e drawn from κ_i = λ_i/λ̄: Σ_i λ_i E_i[·] = λ̄ E_{i~κ}[·].
struct CompetitiveGradients {
  Gradient ls;  // over θ's parameters: the other agents' log-probs × the deviator's return-to-go
  Gradient lg;  // over ν̄'s parameters: the deviator's log-probs × its return-to-go
};
CompetitiveGradients competitive_gradients(BidPolicy theta, BidPolicy deviating, const Trajectory& deviation_batch,
                                           double lambda_bar);
// L*_w(θ) = ∇θ G_w(x; θ)|x=x* (Table 4): as L_s without the λ̄ factor, x* deviating in the weighted POMDP.
Gradient weighted_pomdp_gradient(BidPolicy theta, BidPolicy unified_solution, const Trajectory& weighted_batch);
// ∇x G_w(x; θ): the standard policy gradient that learns the unified solution x* (Algorithm 1, step 2).
// `baseline` [E', T] (optional) is subtracted from the deviator's return-to-go; it must not depend on
// the deviator's own actions (the trainer passes θ's return-to-go on the same draws).
Gradient unified_solution_gradient(BidPolicy unified_solution, const Trajectory& weighted_batch,
                                   const torch::Tensor& baseline = torch::Tensor());

// Dual domain update (13): λ_i = [G_i(x*; θ) - G_i(θ) - ε]_+ (ε in return units here).
std::vector<double> dual_update(const std::vector<double>& unified_returns, const std::vector<double>& theta_returns,
                                double epsilon_abs);
// Algorithm 1, step 5: κ_i = λ_i / λ̄; empty when λ̄ = 0 (the caller keeps its previous κ, see C.2.1).
std::vector<double> sample_ratios(const std::vector<double>& lambda);

// The primal direction of (11); with λ̄ = 0 it degenerates to Δθ = -L1, Δν̄ = 0 (eq. 41, C.2.1).
struct PrimalStep {
  Gradient delta_theta;
  Gradient delta_nu;  // empty when ν̄ is not updated
};
PrimalStep primal_direction(const Gradient& l1, const Gradient& ls, const Gradient& lg, const Gradient& lw,
                            double xi_abs, double lambda_bar);

// The ξ rule: ξ_k = max(ξ_floor, (1 + margin)·λ̄_k), so that (1 − ξ_k/λ̄_k) ≤ −margin < 0 whenever λ̄ > 0.
// Theorem 5.2 (eq. 64) asks for ξ ≥ Z√(3/μγ), a constant nobody can compute for a market; what it
// implies and what can be enforced is that the penalty ξ(G_w(ν̄) − G_w*) of (10) outweighs the λ-term:
// with ξ < λ̄, Δν̄ = (1 − ξ/λ̄)L'_g turns ν̄'s step into descent on the deviators' returns.
double penalty_weight(double xi_floor_abs, double lambda_bar, double margin);

// Every Table-4 term of one BPG iteration, each from the batch and the policy it belongs to:
//   L1    from `all_theta` (everyone follows θ), weighted by (1 + λ_i);
//   L_s, L'_g from `with_nu`: ν̄ deviates in the weighted POMDP (κ = λ/λ̄), gradients over θ and over ν̄;
//   L*_w  from `with_x`: x* deviates in the same weighted POMDP (the trainer gives it with_nu's draws).
struct BpgTerms {
  Gradient l1, ls, lg, lw;
};
BpgTerms bpg_terms(BidPolicy theta, BidPolicy nu, const Trajectory& all_theta, const Trajectory& with_nu,
                   const Trajectory& with_x, const std::vector<double>& lambda);

double norm_of(const Gradient& g);  // ‖g‖₂ over all tensors; 0 for an empty gradient

// --- random draws ----------------------------------------------------------------------------------

// The random draws of one batch. Two batches given the same Draws see the same market (engine episode),
// the same exploration noise for every agent (noise key; a deviator's noise is its own stream of that
// key, the same for any deviating policy) and, in the weighted POMDP, the same deviating agents
// (systematic-sampling offset). Trainer::next_draws() is the only place that hands them out.
struct Draws {
  std::uint64_t episode = 0;
  std::uint64_t noise_key = 0;
  double deviator_offset = 0;
  bool operator==(const Draws& o) const {
    return episode == o.episode && noise_key == o.noise_key && deviator_offset == o.deviator_offset;
  }
};

// What a trainer collected in its last iteration, in order: why, who deviated with which policy, which
// draws. Tests read it to check which batches share draws (common random numbers).
struct BatchRecord {
  std::string purpose;    // "theta", "x_step", "x_step_paired", "dual_x", "dual_paired", "weighted_nu", "weighted_x"
  std::string deviation;  // "", "x", "nu"
  Draws draws;
  std::vector<int> deviators;
};

// --- the trainer -----------------------------------------------------------------------------------

struct IterationRecord {
  int iteration = 0;
  double social_welfare = 0, revenue = 0;  // mean over the θ batch's environments
  double lambda_bar = 0;                   // λ̄ after the dual update (13)
  double max_lambda_normalized = 0;        // max_i λ_i / social welfare
  int lambda_positive = 0;                 // agents with λ_i > 0
  double unified_solution_return = 0;      // G_w(x*; θ) on the last weighted-POMDP batch
  // Dual measurement (13) of this iteration's block of agents: R(x*) − R(θ) = G_i(x*; θ) − G_i(θ) on
  // paired draws, mean and max over the block, and the standard error of each λ_i's mean gain (mean and
  // max over the block; NaN with one environment per agent).
  double unified_gain_mean = 0, unified_gain_max = 0;
  double lambda_se_mean = 0, lambda_se_max = 0;
  double xi = 0;                           // ξ_k of this iteration (penalty_weight), return units
  double xi_over_lambda_bar = 0;           // ξ_k/λ̄ of (11) (0 when λ̄ = 0); > 1 whenever λ̄ > 0
  double norm_l1 = 0, norm_ls = 0, norm_lg = 0, norm_lw = 0;
  double norm_step = 0;                    // ‖Δθ‖ of (14) divided by social welfare (what α1 multiplies)
  double policy_log_std = 0;
  double seconds = 0;
};

class Trainer {
 public:
  // `scenario.market.envs` is the rollout batch E. Seeds torch's global generator (initial weights).
  Trainer(const Scenario& scenario, const LearningConfig& config, torch::Device device, std::uint64_t seed,
          int threads = 0);

  IterationRecord iterate();  // one iteration of config.algorithm
  int iteration() const { return iteration_; }
  // The engine backend the training batches step ("cpu" or "cuda"): CUDA policies step the CUDA backend
  // when this build has one (RolloutCollector), whatever --device says of the policies.
  const char* market_backend() const { return batch_->engine_backend(); }

  // Atomic (temporary file + rename). `metadata` strings (scenario path, overrides) travel along.
  void save(const std::string& path, const std::vector<std::pair<std::string, std::string>>& metadata = {}) const;
  void load(const std::string& path);

  BidPolicy policy() const { return theta_; }
  BidPolicy unified_optimizer() const { return nu_; }
  BidPolicy unified_solution() const { return x_; }
  const std::vector<double>& lambda() const { return lambda_; }
  const std::vector<double>& kappa() const { return kappa_; }
  const LearningConfig& config() const { return config_; }

 private:
  Draws next_draws();  // the only owner of the episode / noise-key / deviator-offset counters
  Trajectory collect(RolloutCollector& collector, const char* purpose, BidPolicy deviation, const char* who,
                     const std::vector<int>& deviators, const Draws& draws);
  // One step function per algorithm; `base` is the iteration's all-θ batch.
  void step_cooperative(const Trajectory& base, IterationRecord& record);
  void step_independent(const Trajectory& base, IterationRecord& record);
  void step_bpg(const Trajectory& base, IterationRecord& record);
  void step_bpg_zero(const Trajectory& base, IterationRecord& record);
  void learn_unified_solution(IterationRecord& record);                  // Algorithm 1, steps 1-2
  void measure_dual(double social_welfare, IterationRecord& record);     // step 3, eq. (13)
  void update_sample_ratios();                                           // step 5
  // θ (or ν̄) ← θ − α Δ/W of (14), W the iteration's social welfare (step sizes per unit of welfare).
  void apply(torch::optim::Optimizer& optimizer, BidPolicy module, const Gradient& delta, double scale);

  LearningConfig config_;
  torch::Device device_;
  std::uint64_t seed_;
  int agents_;
  BidPolicy theta_{nullptr}, nu_{nullptr}, x_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> theta_opt_, nu_opt_, x_opt_;
  std::unique_ptr<RolloutCollector> batch_;  // E = scenario envs: θ batches, weighted-POMDP batches
  std::unique_ptr<RolloutCollector> dual_;   // E = block × dual_envs_per_agent: a block of agents deviates with x*
  int dual_block_ = 0;                       // agents measured per iteration (N when the batch allows)
  std::vector<double> lambda_, kappa_;
  int iteration_ = 0;
  std::uint64_t draws_ = 0;  // draws handed out so far (episodes and noise keys advance together)
  double welfare_scale_ = 1;  // W of this iteration's step (14)
  std::vector<BatchRecord> batches_;
  BpgTerms last_terms_;

 public:
  const std::vector<BatchRecord>& last_batches() const { return batches_; }  // of the last iterate()
  const BpgTerms& last_terms() const { return last_terms_; }                 // bpg / bpg_zero terms
};

// What a checkpoint says about itself, read without building a trainer (evaluate, --resume).
struct CheckpointInfo {
  int iteration = 0, agents = 0;
  std::uint64_t seed = 0;
  Algorithm algorithm = Algorithm::bpg;
  std::map<std::string, std::string> metadata;  // "scenario", "overrides" (one --set per line)
};
CheckpointInfo read_checkpoint_info(const std::string& path);  // UsageError when unreadable

std::unique_ptr<torch::optim::Optimizer> make_optimizer(OptimizerKind kind, BidPolicy module, double lr);

// Per-agent standard error of the mean of [E] values grouped by deviator (NaN with fewer than 2 envs).
std::vector<double> std_error_by_deviator(const torch::Tensor& per_env, const Trajectory& tr, int agents);

}  // namespace bidsim::rl
