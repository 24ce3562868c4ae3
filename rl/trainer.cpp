// BPG (Algorithm 1), bpg_zero (§6.3) and the independent / cooperative baselines, all built from the
// same collector and the Table-4 estimators; plus atomic checkpoints (parameters, optimizers, λ, κ, counters).
#include "rl/trainer.hpp"
#include "rl/checkpoint_integrity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "engine/core/errors.hpp"
#include "engine/core/market_state.hpp"

namespace bidsim::rl {

namespace {

// ∇ of a surrogate whose gradient is the policy-gradient estimate; unused parameters get zeros.
Gradient gradient_of(const torch::Tensor& surrogate, BidPolicy module) {
  const std::vector<torch::Tensor> params = module->parameters();
  std::vector<torch::Tensor> g = torch::autograd::grad({surrogate}, params, {}, false, false, true);
  for (std::size_t k = 0; k < g.size(); ++k)
    if (!g[k].defined()) g[k] = torch::zeros_like(params[k]);
  return g;
}

Gradient scaled(const Gradient& g, double factor) {
  Gradient out;
  for (const torch::Tensor& t : g) out.push_back(t * factor);
  return out;
}

// Σ_k factor_k · g_k over gradients of the same module (empty ones are skipped).
Gradient combine(std::initializer_list<std::pair<double, const Gradient*>> terms) {
  Gradient out;
  for (const auto& [factor, g] : terms) {
    if (g->empty()) continue;
    if (out.empty()) {
      out = scaled(*g, factor);
    } else {
      for (std::size_t k = 0; k < out.size(); ++k) out[k] = out[k] + factor * (*g)[k];
    }
  }
  return out;
}

// Return-to-go of each env's deviating agent, [E', T], with the leave-one-out baseline subtracted.
torch::Tensor deviator_advantage(const Trajectory& tr) {
  return leave_one_out_advantage(deviator_series(reward_to_go(tr.reward), tr)).detach();
}

// Σ_t Σ_{i ≠ d_e} ∇ ln π_θ(a_{i,t}) · A_t averaged over the deviating envs: the shape shared by L_s and
// L*_w (the others follow θ, the deviator's return is the Q of Table 4).
torch::Tensor others_surrogate(BidPolicy theta, const Trajectory& tr) {
  const torch::Tensor envs = tr.deviating_envs();
  const torch::Tensor logp = log_prob_all(actor_of(theta), tr) * non_deviator_mask(tr).unsqueeze(1);
  const torch::Tensor others = logp.index_select(0, envs).sum(-1);  // [E', T]
  return (others * deviator_advantage(tr)).sum() / double(envs.size(0));
}

void check_deviating(const Trajectory& tr, const char* what) {
  if (tr.deviating_envs().numel() == 0) throw std::invalid_argument(std::string(what) + ": no deviating environment");
}

}  // namespace

Gradient cooperative_gradient(BidPolicy theta, const Trajectory& tr, const std::vector<double>& lambda) {
  torch::Tensor weight = torch::ones({tr.agents}, tr.reward.options());
  if (!lambda.empty()) weight = weight + torch::tensor(lambda, torch::kFloat64).to(weight.options());
  // Q_θ(s_t, a_t) of eq. (34): the (1+λ_i)-weighted return-to-go of all agents, [E, T].
  const torch::Tensor q = (reward_to_go(tr.reward) * weight).sum(-1);
  const torch::Tensor advantage = leave_one_out_advantage(q).detach();
  const torch::Tensor logp = log_prob_all(actor_of(theta), tr).sum(-1);  // Σ_i ln π_θ(a_i,t | s_i,t, i)
  return gradient_of((logp * advantage).sum() / double(tr.envs), theta);
}

Gradient independent_gradient(BidPolicy theta, const Trajectory& tr) {
  const torch::Tensor advantage = leave_one_out_advantage(reward_to_go(tr.reward)).detach();  // [E,T,N]
  const torch::Tensor logp = log_prob_all(actor_of(theta), tr);
  return gradient_of((logp * advantage).sum() / double(tr.envs), theta);
}

CompetitiveGradients competitive_gradients(BidPolicy theta, BidPolicy deviating, const Trajectory& tr,
                                           double lambda_bar) {
  check_deviating(tr, "competitive_gradients");
  CompetitiveGradients out;
  out.ls = gradient_of(lambda_bar * others_surrogate(theta, tr), theta);
  const torch::Tensor logp = log_prob_deviator(actor_of(deviating), tr);
  const torch::Tensor surrogate = (logp * deviator_advantage(tr)).sum() / double(logp.size(0));
  out.lg = gradient_of(lambda_bar * surrogate, deviating);
  return out;
}

Gradient weighted_pomdp_gradient(BidPolicy theta, BidPolicy /*unified_solution*/, const Trajectory& tr) {
  check_deviating(tr, "weighted_pomdp_gradient");
  return gradient_of(others_surrogate(theta, tr), theta);
}

Gradient unified_solution_gradient(BidPolicy x, const Trajectory& tr, const torch::Tensor& baseline) {
  check_deviating(tr, "unified_solution_gradient");
  const torch::Tensor logp = log_prob_deviator(actor_of(x), tr);
  const torch::Tensor advantage =
      baseline.defined()
          ? leave_one_out_advantage(deviator_series(reward_to_go(tr.reward), tr) - baseline).detach()
          : deviator_advantage(tr);
  return gradient_of((logp * advantage).sum() / double(logp.size(0)), x);
}

std::vector<double> dual_update(const std::vector<double>& unified, const std::vector<double>& theta, double eps) {
  std::vector<double> lambda(unified.size());
  for (std::size_t i = 0; i < unified.size(); ++i) lambda[i] = std::max(0.0, unified[i] - theta[i] - eps);
  return lambda;
}

std::vector<double> sample_ratios(const std::vector<double>& lambda) {
  const double lambda_bar = std::accumulate(lambda.begin(), lambda.end(), 0.0);
  if (!(lambda_bar > 0)) return {};
  std::vector<double> kappa(lambda.size());
  for (std::size_t i = 0; i < lambda.size(); ++i) kappa[i] = lambda[i] / lambda_bar;
  return kappa;
}

PrimalStep primal_direction(const Gradient& l1, const Gradient& ls, const Gradient& lg, const Gradient& lw,
                            double xi, double lambda_bar) {
  PrimalStep step;
  if (!(lambda_bar > 0)) {  // C.2.1, eq. (41): L_s = L'_g = L*_w = 0, Δθ = -L1, Δν̄ = 0
    step.delta_theta = scaled(l1, -1.0);
    return step;
  }
  const double c = 1.0 - xi / lambda_bar;  // (1 - ξ/λ̄) of eq. (11)
  step.delta_theta = combine({{xi, &lw}, {c, &ls}, {-1.0, &l1}});
  step.delta_nu = scaled(lg, c);
  return step;
}

double penalty_weight(double xi_floor_abs, double lambda_bar, double margin) {
  return lambda_bar > 0 ? std::max(xi_floor_abs, (1.0 + margin) * lambda_bar) : xi_floor_abs;
}

BpgTerms bpg_terms(BidPolicy theta, BidPolicy nu, const Trajectory& all_theta, const Trajectory& with_nu,
                   const Trajectory& with_x, const std::vector<double>& lambda) {
  BpgTerms t;
  t.l1 = cooperative_gradient(theta, all_theta, lambda);  // eq. (33)
  const double lambda_bar = std::accumulate(lambda.begin(), lambda.end(), 0.0);
  if (!(lambda_bar > 0)) return t;  // C.2.1: L_s = L'_g = L*_w = 0, no weighted POMDP
  CompetitiveGradients c = competitive_gradients(theta, nu, with_nu, lambda_bar);  // Table 4, eq. (12)
  t.ls = std::move(c.ls);
  t.lg = std::move(c.lg);
  t.lw = weighted_pomdp_gradient(theta, BidPolicy(nullptr), with_x);  // Table 4: x* deviating
  return t;
}

std::vector<double> std_error_by_deviator(const torch::Tensor& per_env, const Trajectory& tr, int agents) {
  const std::vector<double> mean = mean_by_deviator(per_env, tr, agents);
  std::vector<double> squares(agents, 0.0), count(agents, 0.0);
  const std::vector<double> x = to_vector(per_env), d = to_vector(tr.deviator);
  for (std::size_t e = 0; e < d.size(); ++e) {
    if (d[e] < 0) continue;
    const int i = int(d[e]);
    squares[i] += (x[e] - mean[i]) * (x[e] - mean[i]);
    count[i] += 1;
  }
  std::vector<double> se(agents, std::nan(""));
  for (int i = 0; i < agents; ++i)
    if (count[i] >= 2) se[i] = std::sqrt(squares[i] / (count[i] - 1) / count[i]);
  return se;
}

double norm_of(const Gradient& g) {
  double sum = 0;
  for (const torch::Tensor& t : g) sum += t.pow(2).sum().item<double>();
  return std::sqrt(sum);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(OptimizerKind kind, BidPolicy module, double lr) {
  if (kind == OptimizerKind::sgd)  // plain p ← p − α·grad: the step (14) as written
    return std::make_unique<torch::optim::SGD>(module->parameters(), torch::optim::SGDOptions(lr));
  return std::make_unique<torch::optim::Adam>(module->parameters(), torch::optim::AdamOptions(lr));
}

// --- Trainer ---------------------------------------------------------------------------------------

Trainer::Trainer(const Scenario& scenario, const LearningConfig& config, torch::Device device, std::uint64_t seed,
                 int threads)
    : config_(config), device_(device), seed_(seed), agents_(scenario.agents.count) {
  torch::manual_seed(seed);
  PolicyOptions options;
  options.observation_width = kObservationWidth;
  options.hidden = config.hidden;
  options.initial_log_multiplier = std::log(config.initial_multiplier);
  options.initial_log_std = config.initial_log_std;
  options.min_log_std = config.min_log_std;
  theta_ = BidPolicy(options);
  options.sees_initial_state = true;  // x* and ν̄ see the agent's initial local state (§5.2)
  nu_ = BidPolicy(options);
  x_ = BidPolicy(options);
  theta_->to(device);
  nu_->to(device);
  x_->to(device);
  theta_opt_ = make_optimizer(config.optimizer, theta_, config.lr_policy);
  nu_opt_ = make_optimizer(config.optimizer, nu_, config.lr_unified_optimizer);
  // x* is learned by "a standard policy gradient algorithm" (step 2), not by (14): Adam, whatever `optimizer`.
  x_opt_ = make_optimizer(OptimizerKind::adam, x_, config.lr_unified_solution);
  batch_ = std::make_unique<RolloutCollector>(with_envs(scenario, scenario.market.envs), device, seed, threads);
  if (config.algorithm == Algorithm::bpg || config.algorithm == Algorithm::bpg_zero) {
    dual_block_ = std::min(agents_, std::max(1, config.dual_max_envs / config.dual_envs_per_agent));
    dual_ = std::make_unique<RolloutCollector>(with_envs(scenario, dual_block_ * config.dual_envs_per_agent), device,
                                               seed, threads);
  }
  lambda_.assign(agents_, 0.0);
  kappa_.assign(agents_, 1.0 / agents_);  // Algorithm 1's initialization κ_i = 1/N
}

Draws Trainer::next_draws() {
  Draws d;
  d.episode = draws_;
  d.noise_key = draws_;
  d.deviator_offset = uniform_of(seed_, draws_);
  ++draws_;
  return d;
}

Trajectory Trainer::collect(RolloutCollector& collector, const char* purpose, BidPolicy deviation, const char* who,
                            const std::vector<int>& deviators, const Draws& draws) {
  RolloutRequest rq;
  rq.base = actor_of(theta_);
  if (deviation) rq.deviation = actor_of(deviation);
  rq.deviator = deviators;
  rq.episode = draws.episode;
  rq.noise_key = draws.noise_key;
  batches_.push_back({purpose, who, draws, deviators});
  return collector.collect(rq);
}

void Trainer::apply(torch::optim::Optimizer& optimizer, BidPolicy module, const Gradient& delta, double scale) {
  optimizer.zero_grad();
  const std::vector<torch::Tensor> params = module->parameters();
  for (std::size_t k = 0; k < params.size(); ++k) params[k].mutable_grad() = (delta[k] / scale).detach().clone();
  optimizer.step();  // sgd: p ← p − α Δ/W, the descent step of (14)
}

void Trainer::learn_unified_solution(IterationRecord& record) {
  // Steps 1-2: the weighted POMDP samples its deviating agent from κ; x* is warm-started from the last
  // iteration and improved by `unified_solution_steps` policy-gradient steps.
  for (int s = 0; s < config_.unified_solution_steps; ++s) {
    const Draws draws = next_draws();
    const std::vector<int> deviators = sample_deviators(kappa_, batch_->envs(), draws.deviator_offset);
    const Trajectory tr = collect(*batch_, "x_step", x_, "x", deviators, draws);
    // The θ batch on the same draws: its return-to-go for the deviating agent is a baseline of
    // exogenous randomness only (unbiased), and it removes the between-agent and between-market
    // variance that would otherwise swamp x*'s gradient.
    const Trajectory paired = collect(*batch_, "x_step_paired", BidPolicy(nullptr), "", {}, draws);
    record.unified_solution_return = deviator_series(tr.reward, tr).sum(1).mean().item<double>();
    const torch::Tensor baseline = deviator_series(reward_to_go(paired.reward), tr);
    apply(*x_opt_, x_, scaled(unified_solution_gradient(x_, tr, baseline), -1.0), 1.0);
  }
}

void Trainer::measure_dual(double social_welfare, IterationRecord& record) {
  // Step 3, eq. (13): G_i(x*; θ) with agent i deviating to x* in its own envs, against G_i(θ) on the
  // same draws (market episode and every agent's noise), so the difference is not drowned by market
  // or exploration noise. With more agents than the dual batch holds, agents [first, first + block)
  // (mod N) are measured this iteration and the others keep their last λ_i: every agent is refreshed
  // each ⌈N / block⌉ iterations.
  const Draws draws = next_draws();
  const int per = config_.dual_envs_per_agent;
  const int first = static_cast<int>((static_cast<std::int64_t>(iteration_) * dual_block_) % agents_);
  std::vector<int> deviators = every_agent(dual_block_, per);
  for (int& d : deviators) d = (first + d) % agents_;
  const Trajectory deviated = collect(*dual_, "dual_x", x_, "x", deviators, draws);
  const Trajectory paired = collect(*dual_, "dual_paired", BidPolicy(nullptr), "", {}, draws);
  // R(x*) − R(θ) per env: agent d_e's return deviating minus its return on the same draws following θ.
  const torch::Tensor gain = deviator_series(deviated.reward, deviated).sum(1) - deviator_series(paired.reward, deviated).sum(1);
  const std::vector<double> mean_gain = mean_by_deviator(gain, deviated, agents_);
  const std::vector<double> se = std_error_by_deviator(gain, deviated, agents_);
  const std::vector<double> zero(agents_, 0.0);
  const std::vector<double> measured = dual_update(mean_gain, zero, config_.epsilon * social_welfare);
  record.unified_gain_max = -std::numeric_limits<double>::infinity();
  for (int k = 0; k < dual_block_; ++k) {
    const int i = (first + k) % agents_;
    lambda_[i] = measured[i];
    record.unified_gain_mean += mean_gain[i] / dual_block_;
    record.unified_gain_max = std::max(record.unified_gain_max, mean_gain[i]);
    record.lambda_se_mean += se[i] / dual_block_;
    record.lambda_se_max = k == 0 ? se[i] : std::max(record.lambda_se_max, se[i]);
  }
  record.lambda_bar = std::accumulate(lambda_.begin(), lambda_.end(), 0.0);
  record.lambda_positive = static_cast<int>(std::count_if(lambda_.begin(), lambda_.end(), [](double l) { return l > 0; }));
  const double max_lambda = *std::max_element(lambda_.begin(), lambda_.end());
  record.max_lambda_normalized = social_welfare > 0 ? max_lambda / social_welfare : 0.0;
}

void Trainer::update_sample_ratios() {
  // Step 5: κ_i = λ_i/λ̄. With λ̄ = 0 the paper's κ_i are all 0 and no weighted POMDP is built (C.2.1);
  // x* must still be learned for the next dual update (13), so it is learned on Algorithm 1's initial
  // κ_i = 1/N (a stated deviation: no agent is singled out when none violates the constraint).
  kappa_ = sample_ratios(lambda_);
  if (kappa_.empty()) kappa_.assign(agents_, 1.0 / agents_);
}

void Trainer::step_cooperative(const Trajectory& base, IterationRecord& record) {
  const Gradient l1 = cooperative_gradient(theta_, base, {});
  record.norm_l1 = norm_of(l1);
  apply(*theta_opt_, theta_, scaled(l1, -1.0), welfare_scale_);
  record.norm_step = record.norm_l1 / welfare_scale_;
}

void Trainer::step_independent(const Trajectory& base, IterationRecord& record) {
  const Gradient g = independent_gradient(theta_, base);
  record.norm_l1 = norm_of(g);
  apply(*theta_opt_, theta_, scaled(g, -1.0), welfare_scale_);
  record.norm_step = record.norm_l1 / welfare_scale_;
}

void Trainer::step_bpg(const Trajectory& base, IterationRecord& record) {
  learn_unified_solution(record);
  measure_dual(record.social_welfare, record);
  const double lambda_bar = record.lambda_bar;
  Trajectory with_nu, with_x;
  if (lambda_bar > 0) {
    // L_s, L'_g (ν̄ deviating) and L*_w (x* deviating) on the same draws: same episode, same noise for
    // every agent, same deviators drawn from κ = λ/λ̄. Their ξ-scaled parts, ξL*_w − (ξ/λ̄)L_s, cancel in
    // expectation when ν̄ = x*; on common draws they also cancel in the sample.
    const Draws draws = next_draws();
    const std::vector<int> deviators = sample_deviators(sample_ratios(lambda_), batch_->envs(), draws.deviator_offset);
    with_nu = collect(*batch_, "weighted_nu", nu_, "nu", deviators, draws);
    with_x = collect(*batch_, "weighted_x", x_, "x", deviators, draws);
  }
  last_terms_ = bpg_terms(theta_, nu_, base, with_nu, with_x, lambda_);
  record.xi = penalty_weight(config_.xi * record.social_welfare, lambda_bar, config_.xi_margin);
  record.xi_over_lambda_bar = lambda_bar > 0 ? record.xi / lambda_bar : 0.0;
  const PrimalStep step =
      primal_direction(last_terms_.l1, last_terms_.ls, last_terms_.lg, last_terms_.lw, record.xi, lambda_bar);  // (11)/(41)
  apply(*theta_opt_, theta_, step.delta_theta, welfare_scale_);  // (14)
  if (!step.delta_nu.empty()) apply(*nu_opt_, nu_, step.delta_nu, welfare_scale_);
  record.norm_step = norm_of(step.delta_theta) / welfare_scale_;
  update_sample_ratios();
}

void Trainer::step_bpg_zero(const Trajectory& base, IterationRecord& record) {
  // §6.3: gradient (7) with ∇π_i G_i|ν_i,θ taken as 0 and x* standing in for ν_i,θ: Δθ = L_s(θ, x*) − L1,
  // no unified optimizer ν̄ and no ξ.
  learn_unified_solution(record);
  measure_dual(record.social_welfare, record);
  const double lambda_bar = record.lambda_bar;
  last_terms_ = BpgTerms{};
  last_terms_.l1 = cooperative_gradient(theta_, base, lambda_);
  if (lambda_bar > 0) {
    const Draws draws = next_draws();
    const std::vector<int> deviators = sample_deviators(sample_ratios(lambda_), batch_->envs(), draws.deviator_offset);
    const Trajectory with_x = collect(*batch_, "weighted_x", x_, "x", deviators, draws);
    last_terms_.ls = competitive_gradients(theta_, x_, with_x, lambda_bar).ls;
  }
  const Gradient delta = combine({{1.0, &last_terms_.ls}, {-1.0, &last_terms_.l1}});
  apply(*theta_opt_, theta_, delta, welfare_scale_);
  record.norm_step = norm_of(delta) / welfare_scale_;
  update_sample_ratios();
}

IterationRecord Trainer::iterate() {
  const auto start = std::chrono::steady_clock::now();
  batches_.clear();
  last_terms_ = BpgTerms{};
  IterationRecord record;
  record.iteration = iteration_ + 1;
  const Trajectory base = collect(*batch_, "theta", BidPolicy(nullptr), "", {}, next_draws());
  record.social_welfare = base.returns().sum(1).mean().item<double>();
  record.revenue = base.cost.sum({1, 2}).mean().item<double>();
  // W of the step (14): Σ_i |G_i| (the social welfare when rewards are non-negative), so α is per unit
  // of welfare and one step size fits markets of any currency or size; the direction is (11)'s.
  welfare_scale_ = std::max(base.returns().abs().sum(1).mean().item<double>(), 1e-12);

  switch (config_.algorithm) {
    case Algorithm::cooperative: step_cooperative(base, record); break;
    case Algorithm::independent: step_independent(base, record); break;
    case Algorithm::bpg: step_bpg(base, record); break;
    case Algorithm::bpg_zero: step_bpg_zero(base, record); break;
  }
  record.norm_l1 = last_terms_.l1.empty() ? record.norm_l1 : norm_of(last_terms_.l1);
  record.norm_ls = norm_of(last_terms_.ls);
  record.norm_lg = norm_of(last_terms_.lg);
  record.norm_lw = norm_of(last_terms_.lw);
  {
    torch::NoGradGuard no_grad;
    const ActionDistribution d = theta_->forward({base.observation.select(1, 0).reshape({-1, kObservationWidth}),
                                                  base.initial_observation.reshape({-1, kObservationWidth}),
                                                  torch::Tensor(), torch::Tensor()});
    record.policy_log_std = d.log_std.mean().item<double>();
  }
  ++iteration_;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return record;
}

// --- checkpoints -------------------------------------------------------------------------------------

void Trainer::save(const std::string& path, const std::vector<std::pair<std::string, std::string>>& metadata) const {
  torch::serialize::OutputArchive archive;
  auto nested_module = [&](const char* key, BidPolicy m) {
    torch::serialize::OutputArchive a;
    m->save(a);
    archive.write(key, a);
  };
  auto nested_optimizer = [&](const char* key, const torch::optim::Optimizer& o) {
    torch::serialize::OutputArchive a;
    o.save(a);
    archive.write(key, a);
  };
  nested_module("theta", theta_);
  nested_module("unified_optimizer", nu_);
  nested_module("unified_solution", x_);
  nested_optimizer("theta_optimizer", *theta_opt_);
  nested_optimizer("unified_optimizer_optimizer", *nu_opt_);
  nested_optimizer("unified_solution_optimizer", *x_opt_);
  archive.write("lambda", torch::tensor(lambda_, torch::kFloat64));
  archive.write("kappa", torch::tensor(kappa_, torch::kFloat64));
  archive.write("counters", torch::tensor({std::int64_t(iteration_), std::int64_t(draws_), std::int64_t(draws_),
                                           std::int64_t(seed_), std::int64_t(agents_),
                                           std::int64_t(config_.algorithm)},
                                          torch::kInt64));
  for (const auto& [key, value] : metadata) archive.write("meta_" + key, c10::IValue(value));
  const std::string temporary = path + ".tmp";
  archive.save_to(temporary);
  seal_checkpoint_file(temporary, metadata);  // checksum + market hash, rl/checkpoint_integrity.hpp
  std::filesystem::rename(temporary, path);
}

void Trainer::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device_);
  } catch (const c10::Error& e) {
    throw UsageError(path + ": not a bidsim checkpoint (" + std::string(e.what_without_backtrace()).substr(0, 120) + ")");
  }
  torch::Tensor counters, lambda, kappa;
  archive.read("counters", counters);
  counters = counters.to(torch::kCPU);
  const auto c = counters.accessor<std::int64_t, 1>();
  if (c[4] != agents_)
    throw UsageError(path + ": checkpoint for " + std::to_string(c[4]) + " agents, the scenario has " +
                     std::to_string(agents_));
  if (std::uint64_t(c[3]) != seed_)
    throw UsageError(path + ": checkpoint trained with --seed " + std::to_string(c[3]) + ", resumed with --seed " +
                     std::to_string(seed_));
  if (c[5] != std::int64_t(config_.algorithm))
    throw UsageError(path + ": checkpoint trained with --algo " + to_string(Algorithm(c[5])) + ", resumed with --algo " +
                     to_string(config_.algorithm));
  auto nested_module = [&](const char* key, BidPolicy m) {
    torch::serialize::InputArchive a;
    archive.read(key, a);
    m->load(a);
  };
  auto nested_optimizer = [&](const char* key, torch::optim::Optimizer& o) {
    torch::serialize::InputArchive a;
    archive.read(key, a);
    o.load(a);
  };
  nested_module("theta", theta_);
  nested_module("unified_optimizer", nu_);
  nested_module("unified_solution", x_);
  nested_optimizer("theta_optimizer", *theta_opt_);
  nested_optimizer("unified_optimizer_optimizer", *nu_opt_);
  nested_optimizer("unified_solution_optimizer", *x_opt_);
  archive.read("lambda", lambda);
  archive.read("kappa", kappa);
  lambda_ = to_vector(lambda);
  kappa_ = to_vector(kappa);
  iteration_ = int(c[0]);
  draws_ = std::uint64_t(c[2]);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw UsageError(path + ": checkpoint file not found");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw UsageError(path + ": not a bidsim checkpoint (" + std::string(e.what_without_backtrace()).substr(0, 120) + ")");
  }
  CheckpointInfo info;
  torch::Tensor counters;
  if (!archive.try_read("counters", counters)) throw UsageError(path + ": not a bidsim checkpoint (no counters)");
  const auto c = counters.accessor<std::int64_t, 1>();
  info.iteration = int(c[0]);
  info.seed = std::uint64_t(c[3]);
  info.agents = int(c[4]);
  info.algorithm = Algorithm(c[5]);
  for (const char* key : {"scenario", "overrides"}) {
    c10::IValue value;
    if (archive.try_read(std::string("meta_") + key, value) && value.isString())
      info.metadata[key] = value.toStringRef();
  }
  return info;
}

}  // namespace bidsim::rl
