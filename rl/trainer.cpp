// BPG (Algorithm 1), bpg_zero (§6.3) and the independent / cooperative baselines, all built from the
// same collector and the Table-4 estimators; plus atomic checkpoints (parameters, optimizers, λ, κ, counters).
#include "rl/trainer.hpp"
#include "rl/checkpoint_integrity.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include "engine/errors.hpp"
#include "engine/market_state.hpp"

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

double norm_of(const Gradient& g) {
  double sum = 0;
  for (const torch::Tensor& t : g) sum += t.pow(2).sum().item<double>();
  return std::sqrt(sum);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(OptimizerKind kind, BidPolicy module, double lr) {
  if (kind == OptimizerKind::sgd)
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
  x_opt_ = make_optimizer(config.optimizer, x_, config.lr_unified_solution);
  batch_ = std::make_unique<RolloutCollector>(with_envs(scenario, scenario.market.envs), device, seed, threads);
  if (config.algorithm == Algorithm::bpg || config.algorithm == Algorithm::bpg_zero) {
    dual_block_ = std::min(agents_, std::max(1, config.dual_max_envs / config.dual_envs_per_agent));
    dual_ = std::make_unique<RolloutCollector>(with_envs(scenario, dual_block_ * config.dual_envs_per_agent), device,
                                               seed, threads);
  }
  lambda_.assign(agents_, 0.0);
  kappa_.assign(agents_, 1.0 / agents_);  // Algorithm 1's initialization κ_i = 1/N
}

Trajectory Trainer::collect(RolloutCollector& collector, const Actor& deviation, const std::vector<int>& deviators,
                            std::uint64_t episode) {
  RolloutRequest rq;
  rq.base = actor_of(theta_);
  rq.deviation = deviation;
  rq.deviator = deviators;
  rq.episode = episode;
  rq.noise_key = batches_++;
  return collector.collect(rq);
}

void Trainer::apply(torch::optim::Optimizer& optimizer, BidPolicy module, const Gradient& delta) {
  optimizer.zero_grad();
  const std::vector<torch::Tensor> params = module->parameters();
  for (std::size_t k = 0; k < params.size(); ++k) params[k].mutable_grad() = delta[k].detach().clone();
  optimizer.step();  // p ← p - α Δ: the descent step of (14)
}

void Trainer::learn_unified_solution(IterationRecord& record) {
  // Steps 1-2: the weighted POMDP samples its deviating agent from κ; x* is warm-started from the last
  // iteration and improved by `unified_solution_steps` policy-gradient steps.
  for (int s = 0; s < config_.unified_solution_steps; ++s) {
    const std::vector<int> deviators = sample_deviators(kappa_, batch_->envs(), uniform_of(seed_, batches_));
    const std::uint64_t episode = episodes_++, key = batches_;
    const Trajectory tr = collect(*batch_, actor_of(x_), deviators, episode);
    // The θ batch on the same draws and the same noise of the others: its return-to-go for the
    // deviating agent is a baseline of exogenous randomness only (unbiased), and it removes the
    // between-agent and between-market variance that would otherwise swamp x*'s gradient.
    batches_ = key;
    const Trajectory paired = collect(*batch_, Actor(), {}, episode);
    record.unified_solution_return = deviator_series(tr.reward, tr).sum(1).mean().item<double>();
    const torch::Tensor baseline = deviator_series(reward_to_go(paired.reward), tr);
    apply(*x_opt_, x_, scaled(unified_solution_gradient(x_, tr, baseline), -1.0));
  }
}

void Trainer::measure_dual(double social_welfare, IterationRecord& record) {
  // Step 3, eq. (13): G_i(x*; θ) with agent i deviating to x* in its own envs, against G_i(θ) on the
  // same market draws (same engine episode), so the difference is not drowned by market noise.
  // With more agents than the dual batch holds, agents [first, first + block) (mod N) are measured this
  // iteration and the others keep their last λ_i: every agent is refreshed each ⌈N / block⌉ iterations.
  const std::uint64_t episode = episodes_++;
  const int per = config_.dual_envs_per_agent;
  const int first = static_cast<int>((static_cast<std::int64_t>(iteration_) * dual_block_) % agents_);
  std::vector<int> deviators = every_agent(dual_block_, per);
  for (int& d : deviators) d = (first + d) % agents_;
  const Trajectory deviated = collect(*dual_, actor_of(x_), deviators, episode);
  const Trajectory base = collect(*dual_, Actor(), {}, episode);
  const torch::Tensor unified_return = deviator_series(deviated.reward, deviated).sum(1);  // [E]
  const torch::Tensor own_return = deviator_series(base.reward, deviated).sum(1);
  const std::vector<double> measured = dual_update(mean_by_deviator(unified_return, deviated, agents_),
                                                   mean_by_deviator(own_return, deviated, agents_),
                                                   config_.epsilon * social_welfare);
  for (int k = 0; k < dual_block_; ++k) {
    const int i = (first + k) % agents_;
    lambda_[i] = measured[i];
  }
  record.lambda_bar = std::accumulate(lambda_.begin(), lambda_.end(), 0.0);
  const double max_lambda = *std::max_element(lambda_.begin(), lambda_.end());
  record.max_lambda_normalized = social_welfare > 0 ? max_lambda / social_welfare : 0.0;
}

IterationRecord Trainer::iterate() {
  const auto start = std::chrono::steady_clock::now();
  IterationRecord record;
  record.iteration = iteration_ + 1;
  const Trajectory base = collect(*batch_, Actor(), {}, episodes_++);
  record.social_welfare = base.returns().sum(1).mean().item<double>();
  record.revenue = base.cost.sum({1, 2}).mean().item<double>();

  switch (config_.algorithm) {
    case Algorithm::cooperative: {
      const Gradient l1 = cooperative_gradient(theta_, base, {});
      record.norm_l1 = norm_of(l1);
      apply(*theta_opt_, theta_, scaled(l1, -1.0));
      break;
    }
    case Algorithm::independent: {
      const Gradient g = independent_gradient(theta_, base);
      record.norm_l1 = norm_of(g);
      apply(*theta_opt_, theta_, scaled(g, -1.0));
      break;
    }
    case Algorithm::bpg:
    case Algorithm::bpg_zero: {
      learn_unified_solution(record);
      measure_dual(record.social_welfare, record);
      const double lambda_bar = record.lambda_bar;
      const Gradient l1 = cooperative_gradient(theta_, base, lambda_);
      Gradient ls, lg, lw;
      const std::vector<double> kappa_next = sample_ratios(lambda_);
      if (!kappa_next.empty()) {
        if (config_.algorithm == Algorithm::bpg) {
          // L_s and L'_g: ν̄ deviates in the weighted POMDP with κ = λ/λ̄; L*_w: x* deviates there.
          const Trajectory with_nu = collect(*batch_, actor_of(nu_),
                                             sample_deviators(kappa_next, batch_->envs(), uniform_of(seed_, batches_)),
                                             episodes_++);
          CompetitiveGradients c = competitive_gradients(theta_, nu_, with_nu, lambda_bar);
          ls = std::move(c.ls);
          lg = std::move(c.lg);
          const Trajectory with_x = collect(*batch_, actor_of(x_),
                                            sample_deviators(kappa_next, batch_->envs(), uniform_of(seed_, batches_)),
                                            episodes_++);
          lw = weighted_pomdp_gradient(theta_, x_, with_x);
        } else {
          // bpg_zero (§6.3): gradient (7) with ∇π_i G_i|ν_i,θ taken as 0 and x* standing in for ν_i,θ:
          // Δθ = L_s(θ, x*) - L1, no unified optimizer ν̄.
          const Trajectory with_x = collect(*batch_, actor_of(x_),
                                            sample_deviators(kappa_next, batch_->envs(), uniform_of(seed_, batches_)),
                                            episodes_++);
          ls = competitive_gradients(theta_, x_, with_x, lambda_bar).ls;
        }
      }
      const double xi = config_.xi * record.social_welfare;  // ξ is given normalized by social welfare, like ε
      record.xi_over_lambda_bar = lambda_bar > 0 ? xi / lambda_bar : 0.0;
      record.norm_l1 = norm_of(l1);
      record.norm_ls = norm_of(ls);
      record.norm_lg = norm_of(lg);
      record.norm_lw = norm_of(lw);
      if (config_.algorithm == Algorithm::bpg) {
        const PrimalStep step = primal_direction(l1, ls, lg, lw, xi, lambda_bar);  // eq. (11) / (41)
        apply(*theta_opt_, theta_, step.delta_theta);                            // eq. (14)
        if (!step.delta_nu.empty()) apply(*nu_opt_, nu_, step.delta_nu);
      } else {
        apply(*theta_opt_, theta_, combine({{1.0, &ls}, {-1.0, &l1}}));
      }
      if (!kappa_next.empty()) kappa_ = kappa_next;  // step 5; with λ̄ = 0 the last κ is kept (C.2.1)
      break;
    }
  }
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
  archive.write("counters", torch::tensor({std::int64_t(iteration_), std::int64_t(episodes_), std::int64_t(batches_),
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
  episodes_ = std::uint64_t(c[1]);
  batches_ = std::uint64_t(c[2]);
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
