// Batched best responses: every evaluated agent deviates in its own block of environments with its
// own residual network (AgentResidualPolicy), so N unilateral problems cost one batch per step. Three
// independent streams of draws (training, selection, report) keep the choice of a deviation apart from
// the number reported for it.
#include "rl/evaluate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "engine/core/errors.hpp"
#include "engine/core/market_state.hpp"
#include "engine/facade/policies.hpp"
#include "rl/rollout.hpp"

namespace bidsim::rl {

const char* to_string(Candidate c) {
  switch (c) {
    case Candidate::policy: return "policy";
    case Candidate::policy_mean: return "policy_mean";
    case Candidate::best_response: return "best_response";
    case Candidate::best_response_mean: return "best_response_mean";
    case Candidate::unified: return "unified";
    default: return "unified_mean";
  }
}

bool is_deterministic(Candidate c) {
  return c == Candidate::policy_mean || c == Candidate::best_response_mean || c == Candidate::unified_mean;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Leave-one-out advantage within each agent's block of `reps` consecutive envs: agents differ, so the
// baseline of agent i's envs comes from agent i's other envs only.
torch::Tensor blockwise_advantage(const torch::Tensor& q, int reps) {
  const auto T = q.size(1);
  return leave_one_out_advantage(q.reshape({-1, reps, T}).transpose(0, 1)).transpose(0, 1).reshape({-1, T});
}

// The three streams of draws. Each batch simulates the scenario under its own market seed and draws its
// exploration noise from its own generator seed, so no two batches share a draw whatever their sizes
// and episode numbers (the engine keys market draws by (seed, episode × E + e)).
enum Stream : std::uint64_t { kTrainingStream = 0x7A11, kSelectionStream = 0x5E1E, kReportStream = 0x4E90 };

// One batch: every evaluated agent deviates in `reps` consecutive environments, in `agents` order.
struct Batch {
  std::unique_ptr<RolloutCollector> collector;
  std::unique_ptr<BuiltinPolicies> builtin;
  std::vector<int> deviators;  // [E]
  int reps = 0;
  int envs() const { return static_cast<int>(deviators.size()); }
};

Batch make_batch(const Scenario& scenario, const std::vector<int>& agents, int reps, bool builtin,
                 torch::Device device, std::uint64_t seed, Stream stream, int threads) {
  Batch b;
  b.reps = reps;
  for (int agent : agents)
    for (int k = 0; k < reps; ++k) b.deviators.push_back(agent);
  Scenario s = with_envs(scenario, b.envs());
  // Per-agent constants were resolved at load, so a new seed changes the draws, not the market.
  s.seed = mix_seed(mix_seed(scenario.seed, seed), stream);
  b.collector = std::make_unique<RolloutCollector>(s, device, mix_seed(seed, stream), threads);
  // Built-in policies act on the collector's own envs (its block under MPI).
  if (builtin) b.builtin = std::make_unique<BuiltinPolicies>(b.collector->scenario());
  return b;
}

// G_{d_e} in env e for the batch's deviators d_e: [E].
std::vector<double> deviator_returns(const Trajectory& tr, const std::vector<int>& deviators) {
  const torch::Tensor index =
      torch::tensor(std::vector<std::int64_t>(deviators.begin(), deviators.end()), torch::kInt64)
          .to(tr.reward.device())
          .view({-1, 1});
  return to_vector(tr.returns().to(torch::kFloat64).gather(1, index).squeeze(1));
}

// Block k (agent k's envs) of a per-env vector.
std::vector<double> block(const std::vector<double>& per_env, int k, int reps) {
  return std::vector<double>(per_env.begin() + static_cast<std::ptrdiff_t>(k) * reps,
                             per_env.begin() + static_cast<std::ptrdiff_t>(k + 1) * reps);
}

std::vector<double> difference(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (std::size_t e = 0; e < a.size(); ++e) d[e] = a[e] - b[e];
  return d;
}

double mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return x.empty() ? 0.0 : s / static_cast<double>(x.size());
}

// Per-agent mean gain over each agent's block: [n].
std::vector<double> block_means(const std::vector<double>& per_env, int n, int reps) {
  std::vector<double> m(n);
  for (int k = 0; k < n; ++k) m[k] = mean(block(per_env, k, reps));
  return m;
}

// The candidate of `allowed` with the largest selection gain (the first on ties, so θ wins a tie).
Candidate choose(const AgentEvaluation& a, std::initializer_list<Candidate> allowed) {
  Candidate best = *allowed.begin();
  for (Candidate c : allowed) {
    const CandidateEstimate& e = a.candidates[static_cast<int>(c)];
    if (e.available && e.selection_gain > a.candidates[static_cast<int>(best)].selection_gain) best = c;
  }
  return best;
}

}  // namespace

EvaluationResult evaluate_policy(const Scenario& scenario, const BasePolicy& base, const Actor& unified,
                                 const LearningConfig& config, torch::Device device, std::uint64_t seed,
                                 int threads, const ProgressCallback& progress) {
  const auto start = std::chrono::steady_clock::now();
  const BestResponseConfig& bc = config.best_response;
  const int N = scenario.agents.count;
  EvaluationResult r;
  r.label = base.label;
  r.max_best_response_steps = bc.steps;
  r.envs_per_agent = bc.envs_per_agent;
  r.selection_envs_per_agent = bc.selection_envs_per_agent;
  r.eval_envs_per_agent = bc.eval_envs_per_agent;
  r.confidence = bc.confidence;
  r.has_unified = static_cast<bool>(unified);
  // All agents up to max_agents; above, an evenly spaced sample of max_agents agents (stated in the output).
  const int n = std::min(N, bc.max_agents);
  for (int k = 0; k < n; ++k) r.agents.push_back(static_cast<int>((static_cast<long long>(k) * N) / n));
  const bool builtin = !base.learned;
  const std::uint64_t eval_seed = mix_seed(seed, 0xE7A1);  // keeps evaluation draws apart from training's

  Batch selection = make_batch(scenario, r.agents, bc.selection_envs_per_agent, builtin, device, eval_seed,
                               kSelectionStream, threads);
  Batch report = make_batch(scenario, r.agents, bc.eval_envs_per_agent, builtin, device, eval_seed, kReportStream,
                            threads);
  r.market_backend = report.collector->engine_backend();

  // Progress in environment-episodes, against an upper bound that shrinks when training stops early.
  // Collects after the best responses: θ's mean and x* (stochastic and mean) on the selection draws;
  // θ, then every available candidate on the report draws.
  const int checks_max = bc.steps > 0 ? bc.steps / bc.check_every + 2 : 0;
  const int selection_collects = (base.learned ? 1 : 0) + (unified ? 2 : 0);
  const int report_collects = 1 + (base.learned ? 1 : 0) + (bc.steps > 0 ? 2 : 0) + (unified ? 2 : 0);
  const double final_work = double(selection_collects) * selection.envs() + double(report_collects) * report.envs();
  EvaluationProgress p;
  p.max_steps = bc.steps;
  p.total = selection.envs() + final_work;
  auto advance = [&](const char* phase, double envs) {
    p.phase = phase;
    p.done += envs;
    if (progress) progress(p);
  };

  auto collect = [&](Batch& b, const Actor& deviation, bool deterministic, std::uint64_t episode,
                     std::uint64_t key) {
    RolloutRequest rq;
    rq.base = base.learned;
    rq.builtin = b.builtin.get();
    rq.deviation = deviation;
    if (deviation) rq.deviator = b.deviators;
    rq.deterministic_deviation = deterministic;
    rq.episode = episode;
    rq.noise_key = key;
    return b.collector->collect(rq);
  };
  // The selection and report batches always use episode 0 and noise key 0 of their own streams: every
  // candidate, and every held-out check, sees the same draws (a paired comparison).
  auto returns_of = [&](Batch& b, const Actor& deviation, bool deterministic, const char* phase) {
    const std::vector<double> g = deviator_returns(collect(b, deviation, deterministic, 0, 0), b.deviators);
    advance(phase, b.envs());
    return g;
  };

  const Trajectory selection_base_tr = collect(selection, Actor(), false, 0, 0);
  advance("selection", selection.envs());
  const std::vector<double> selection_base = deviator_returns(selection_base_tr, selection.deviators);
  const double selection_welfare = selection_base_tr.returns().sum(1).mean().item<double>();

  r.per_agent.resize(n);
  for (int k = 0; k < n; ++k) {
    r.per_agent[k].agent = r.agents[k];
    r.per_agent[k].candidates[static_cast<int>(Candidate::policy)].available = true;  // gain 0 by definition
  }
  auto set_selection = [&](Candidate c, const std::vector<double>& per_agent_gain) {
    for (int k = 0; k < n; ++k) {
      CandidateEstimate& e = r.per_agent[k].candidates[static_cast<int>(c)];
      e.available = true;
      e.selection_gain = per_agent_gain[k];
    }
  };

  // --- 1-2: best responses trained until their held-out gain stops improving ----------------------------
  torch::manual_seed(eval_seed);
  AgentResidualPolicy best_response(N, kObservationWidth, bc.hidden, bc.initial_log_std);
  best_response->to(device);
  const Actor best_response_actor = actor_of(best_response);
  if (bc.steps > 0) {
    p.total += 2.0 * bc.steps * n * bc.envs_per_agent + 2.0 * checks_max * selection.envs();
    Batch train = make_batch(scenario, r.agents, bc.envs_per_agent, builtin, device, eval_seed, kTrainingStream,
                             threads);
    torch::optim::Adam optimizer(best_response->parameters(), torch::optim::AdamOptions(bc.lr));
    const std::vector<torch::Tensor> parameters = best_response->parameters();
    std::vector<torch::Tensor> snapshot;
    for (const torch::Tensor& t : parameters) snapshot.push_back(t.detach().clone());
    const double threshold = bc.min_improvement * std::fabs(selection_welfare);
    std::vector<double> best_score(n, -std::numeric_limits<double>::infinity()), kept_stochastic(n), kept_mean(n);
    int stale = 0, checks = 0;

    // Measures the current best responses on the selection draws; keeps each agent's best snapshot.
    auto check = [&](int step) {
      const std::vector<double> stochastic =
          block_means(difference(returns_of(selection, best_response_actor, false, "best responses"), selection_base),
                      n, selection.reps);
      const std::vector<double> deterministic =
          block_means(difference(returns_of(selection, best_response_actor, true, "best responses"), selection_base),
                      n, selection.reps);
      CurvePoint c;
      c.step = step;
      double sum = 0;
      c.max_gain = -std::numeric_limits<double>::infinity();
      torch::NoGradGuard no_grad;
      for (int k = 0; k < n; ++k) {
        const double score = std::max(stochastic[k], deterministic[k]);
        sum += score;
        c.max_gain = std::max(c.max_gain, score);
        if (score > best_score[k] + threshold || (step == 0)) {
          best_score[k] = score;
          kept_stochastic[k] = stochastic[k];
          kept_mean[k] = deterministic[k];
          r.per_agent[k].best_response_step = step;
          for (std::size_t j = 0; j < parameters.size(); ++j) snapshot[j][r.agents[k]].copy_(parameters[j][r.agents[k]]);
          if (step > 0) ++c.improved_agents;
        }
      }
      c.mean_gain = sum / n;
      r.curve.push_back(c);
      ++checks;
      stale = (step == 0 || c.improved_agents > 0) ? 0 : stale + 1;
    };

    check(0);
    r.stop_reason = "reached best_response.steps";
    for (int s = 1; s <= bc.steps; ++s) {
      // The base policy's return-to-go on the same market draws (same episode, same noise for the others)
      // is a baseline that depends on exogenous randomness only, never on the deviator's own noise, so
      // subtracting it keeps the estimator unbiased and removes most of the market's variance.
      const std::uint64_t episode = static_cast<std::uint64_t>(s - 1);
      const Trajectory tr = collect(train, best_response_actor, false, episode, episode);
      const Trajectory paired = collect(train, Actor(), false, episode, episode);
      const torch::Tensor gain_to_go =
          deviator_series(reward_to_go(tr.reward), tr) - deviator_series(reward_to_go(paired.reward), tr);
      const torch::Tensor advantage = blockwise_advantage(gain_to_go, bc.envs_per_agent).detach();
      const torch::Tensor logp = log_prob_deviator(best_response_actor, tr);
      // Each agent ascends its own return; the parameters are separate, so the sum over agents is their
      // independent problems side by side.
      const torch::Tensor loss = -(logp * advantage).sum() / double(bc.envs_per_agent);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      r.best_response_steps = s;
      p.step = s;
      advance("best responses", 2.0 * train.envs());
      if (s % bc.check_every == 0 || s == bc.steps) {
        check(s);
        if (stale >= bc.patience) {
          r.stop_reason = "no agent's held-out gain rose by more than best_response.min_improvement for " +
                          std::to_string(bc.patience) + " checks";
          break;
        }
      }
    }
    // The unspent share of the bound leaves the total: what remains is the final measurement.
    p.total = p.done + final_work;
    torch::NoGradGuard no_grad;
    for (std::size_t j = 0; j < parameters.size(); ++j) parameters[j].copy_(snapshot[j]);
    set_selection(Candidate::best_response, kept_stochastic);
    set_selection(Candidate::best_response_mean, kept_mean);
  } else {
    r.stop_reason = "best_response.steps is 0: no best-response training";
  }

  // --- 3: the other candidates on the selection draws ---------------------------------------------------
  auto selection_gain = [&](const Actor& deviation, bool deterministic) {
    return block_means(difference(returns_of(selection, deviation, deterministic, "selection"), selection_base), n,
                       selection.reps);
  };
  if (base.learned) set_selection(Candidate::policy_mean, selection_gain(base.learned, true));
  if (unified) {
    set_selection(Candidate::unified, selection_gain(unified, false));
    set_selection(Candidate::unified_mean, selection_gain(unified, true));
  }

  // --- report draws: every available candidate, paired with θ -------------------------------------------
  const Trajectory report_base_tr = collect(report, Actor(), false, 0, 0);
  advance("report", report.envs());
  r.social_welfare = report_base_tr.returns().sum(1).mean().item<double>();
  r.revenue = report_base_tr.cost.sum({1, 2}).mean().item<double>();
  r.returns = to_vector(report_base_tr.returns().mean(0));
  r.costs = to_vector(report_base_tr.cost.sum(1).mean(0));
  const std::vector<double> report_base = deviator_returns(report_base_tr, report.deviators);
  const int reps = report.reps;
  const double multiplier = simultaneous_t(bc.confidence, n, reps);
  std::array<std::vector<double>, kCandidates> report_returns;  // [E] per candidate
  report_returns[static_cast<int>(Candidate::policy)] = report_base;
  auto measure = [&](Candidate c, const Actor& deviation) {
    if (!r.per_agent.front().candidates[static_cast<int>(c)].available) return;
    report_returns[static_cast<int>(c)] = returns_of(report, deviation, is_deterministic(c), "report");
  };
  measure(Candidate::policy_mean, base.learned);
  measure(Candidate::best_response, best_response_actor);
  measure(Candidate::best_response_mean, best_response_actor);
  measure(Candidate::unified, unified);
  measure(Candidate::unified_mean, unified);

  double max_mean = 0, max_low = 0, max_high = 0;
  for (int k = 0; k < n; ++k) {
    AgentEvaluation& a = r.per_agent[k];
    const std::vector<double> base_k = block(report_base, k, reps);
    a.base_return = mean(base_k);
    for (int c = 0; c < kCandidates; ++c) {
      CandidateEstimate& e = a.candidates[c];
      if (!e.available) continue;
      const std::vector<double> g = block(report_returns[c], k, reps);
      e.report_return = mean(g);
      // θ against itself is not an estimate: its gain is exactly 0 on every draw.
      e.report_gain = c == static_cast<int>(Candidate::policy) ? MeanInterval{0, 0, 0, 0, reps}
                                                                : mean_interval(difference(g, base_k), multiplier);
    }
    a.chosen = choose(a, {Candidate::policy, Candidate::policy_mean, Candidate::best_response,
                          Candidate::best_response_mean, Candidate::unified, Candidate::unified_mean});
    a.exploitability = a.candidates[static_cast<int>(a.chosen)].report_gain;
    r.exploitability.push_back(a.exploitability.mean);
    if (k == 0 || a.exploitability.mean > max_mean) max_mean = a.exploitability.mean;
    if (k == 0 || a.exploitability.low > max_low) max_low = a.exploitability.low;
    if (k == 0 || a.exploitability.high > max_high) max_high = a.exploitability.high;

    // Table 3: R(θ), R(x*) and R* in one mode, R* chosen on the selection draws.
    auto row = [&](Candidate policy, Candidate response, Candidate x_star) {
      Table3Row t;
      t.star = choose(a, {policy, response, x_star});
      const std::vector<double> star = block(report_returns[static_cast<int>(t.star)], k, reps);
      t.r_star = mean(star);
      t.r_policy = a.candidates[static_cast<int>(policy)].report_return;
      t.policy_ratio = ratio_interval(block(report_returns[static_cast<int>(policy)], k, reps), star, bc.confidence);
      if (a.candidates[static_cast<int>(x_star)].available) {
        t.r_unified = a.candidates[static_cast<int>(x_star)].report_return;
        t.unified_ratio = ratio_interval(block(report_returns[static_cast<int>(x_star)], k, reps), star, bc.confidence);
      } else {
        t.r_unified = kNaN;
        t.unified_ratio = {kNaN, kNaN, kNaN};
      }
      return t;
    };
    a.stochastic = row(Candidate::policy, Candidate::best_response, Candidate::unified);
    // A built-in θ is deterministic already: its own run is its "mean" run.
    a.deterministic = row(base.learned ? Candidate::policy_mean : Candidate::policy, Candidate::best_response_mean,
                          Candidate::unified_mean);
  }
  if (r.social_welfare > 0) {
    r.max_exploitability = max_mean / r.social_welfare;
    r.max_exploitability_low = max_low / r.social_welfare;
    r.max_exploitability_high = max_high / r.social_welfare;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace bidsim::rl
