// Batched best responses: every evaluated agent deviates in its own block of environments with its
// own residual network (AgentResidualPolicy), so N unilateral problems cost one batch per step.
#include "rl/evaluate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/errors.hpp"
#include "engine/market_state.hpp"
#include "engine/policies.hpp"
#include "rl/rollout.hpp"

namespace bidsim::rl {

namespace {

// Leave-one-out advantage within each agent's block of `reps` consecutive envs: agents differ, so the
// baseline of agent i's envs comes from agent i's other envs only.
torch::Tensor blockwise_advantage(const torch::Tensor& q, int reps) {
  const auto T = q.size(1);
  return leave_one_out_advantage(q.reshape({-1, reps, T}).transpose(0, 1)).transpose(0, 1).reshape({-1, T});
}

struct Batch {
  std::unique_ptr<RolloutCollector> collector;
  std::unique_ptr<BuiltinPolicies> builtin;
};

Batch make_batch(const Scenario& scenario, int envs, bool builtin, torch::Device device, std::uint64_t seed,
                 int threads) {
  Batch b;
  const Scenario s = with_envs(scenario, envs);
  b.collector = std::make_unique<RolloutCollector>(s, device, seed, threads);
  // Built-in policies act on the collector's own envs (its block under MPI).
  if (builtin) b.builtin = std::make_unique<BuiltinPolicies>(b.collector->scenario());
  return b;
}

}  // namespace

EvaluationResult evaluate_policy(const Scenario& scenario, const BasePolicy& base, const Actor& unified,
                                 const LearningConfig& config, torch::Device device, std::uint64_t seed,
                                 int threads) {
  const auto start = std::chrono::steady_clock::now();
  const BestResponseConfig& bc = config.best_response;
  const int N = scenario.agents.count;
  EvaluationResult r;
  r.label = base.label;
  r.best_response_steps = bc.steps;
  r.envs_per_agent = bc.envs_per_agent;
  r.eval_envs_per_agent = bc.eval_envs_per_agent;
  // All agents up to max_agents; above, an evenly spaced sample of max_agents agents (stated in the output).
  const int n = std::min(N, bc.max_agents);
  for (int k = 0; k < n; ++k) r.agents.push_back(static_cast<int>((static_cast<long long>(k) * N) / n));
  auto deviators_of = [&](int reps) {
    std::vector<int> d;
    for (int agent : r.agents)
      for (int k = 0; k < reps; ++k) d.push_back(agent);
    return d;
  };
  const bool builtin = !base.learned;
  const std::uint64_t eval_seed = mix_seed(seed, 0xE7A1);  // keeps evaluation draws apart from training's
  torch::manual_seed(eval_seed);
  AgentResidualPolicy best_response(N, kObservationWidth, bc.hidden, bc.initial_log_std);
  best_response->to(device);
  torch::optim::Adam optimizer(best_response->parameters(), torch::optim::AdamOptions(bc.lr));
  std::uint64_t episode = 0, noise = 0;

  auto request = [&](Batch& b, const Actor& deviation, const std::vector<int>& deviators, bool deterministic_dev,
                     std::uint64_t ep, std::uint64_t key) {
    RolloutRequest rq;
    rq.base = base.learned;
    rq.builtin = b.builtin.get();
    rq.deviation = deviation;
    rq.deviator = deviators;
    rq.deterministic_deviation = deterministic_dev;
    rq.episode = ep;
    rq.noise_key = key;
    return b.collector->collect(rq);
  };

  if (bc.steps > 0) {
    Batch train = make_batch(scenario, n * bc.envs_per_agent, builtin, device, eval_seed, threads);
    const std::vector<int> deviators = deviators_of(bc.envs_per_agent);
    for (int s = 0; s < bc.steps; ++s) {
      // The base policy's return-to-go on the same market draws (same episode, same noise for the others)
      // is a baseline that depends on exogenous randomness only, never on the deviator's own noise, so
      // subtracting it keeps the estimator unbiased and removes most of the market's variance.
      const std::uint64_t ep = episode++, key = noise++;
      const Trajectory tr = request(train, actor_of(best_response), deviators, false, ep, key);
      const Trajectory paired = request(train, Actor(), {}, false, ep, key);
      const torch::Tensor gain_to_go =
          deviator_series(reward_to_go(tr.reward), tr) - deviator_series(reward_to_go(paired.reward), tr);
      const torch::Tensor advantage = blockwise_advantage(gain_to_go, bc.envs_per_agent).detach();
      const torch::Tensor logp = log_prob_deviator(actor_of(best_response), tr);
      // Each agent ascends its own return; the parameters are separate, so the sum over agents is their
      // independent problems side by side.
      const torch::Tensor loss = -(logp * advantage).sum() / double(bc.envs_per_agent);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
  }

  // Final measurement: base, best response with and without noise (and x*), all on the same draws.
  Batch eval = make_batch(scenario, n * bc.eval_envs_per_agent, builtin, device, eval_seed, threads);
  const std::vector<int> deviators = deviators_of(bc.eval_envs_per_agent);
  const std::uint64_t ep = episode++ + 1000, key = noise++ + 1000;
  const Trajectory base_tr = request(eval, Actor(), {}, false, ep, key);
  const Trajectory stochastic = request(eval, actor_of(best_response), deviators, false, ep, key);
  const Trajectory deterministic = request(eval, actor_of(best_response), deviators, true, ep, key);

  r.social_welfare = base_tr.returns().sum(1).mean().item<double>();
  r.revenue = base_tr.cost.sum({1, 2}).mean().item<double>();
  r.returns = to_vector(base_tr.returns().mean(0));
  r.costs = to_vector(base_tr.cost.sum(1).mean(0));
  // Per evaluated agent (blocks of eval_envs_per_agent envs, in r.agents order).
  auto per_agent = [&](const Trajectory& tr) {
    const torch::Tensor g = deviator_series(tr.reward, stochastic).sum(1);  // deviator of `stochastic` = same layout
    return to_vector(g.reshape({n, bc.eval_envs_per_agent}).mean(1));
  };
  r.base_returns = per_agent(base_tr);
  const std::vector<double> g_stochastic = per_agent(stochastic), g_deterministic = per_agent(deterministic);
  for (int k = 0; k < n; ++k) {
    r.best_response_returns.push_back(std::max({g_stochastic[k], g_deterministic[k], r.base_returns[k]}));
    r.exploitability.push_back(r.best_response_returns[k] - r.base_returns[k]);
  }
  if (unified) r.unified_returns = per_agent(request(eval, unified, deviators, false, ep, key));
  const double max_gain = r.exploitability.empty() ? 0.0 : *std::max_element(r.exploitability.begin(), r.exploitability.end());
  r.max_exploitability = r.social_welfare > 0 ? max_gain / r.social_welfare : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace bidsim::rl
