// Episode driver for `simulate`: act, step, record per environment; then the reductions over
// environments, always in env order (so a batch gathered from MPI shards reduces to the same bits).
#include "engine/facade/simulate.hpp"

#include <chrono>

#include "engine/core/physics.hpp"

namespace bidsim {

EpisodeRecords run_episode(Simulator& sim, BuiltinPolicies& policies, const StepObserver& on_step) {
  const Scenario& s = sim.scenario();
  const int E = s.market.envs, N = s.agents.count, T = s.market.steps;
  constexpr int F = EpisodeRecords::kStepFields;
  EpisodeRecords r;
  r.envs = E;
  r.agents = N;
  r.steps = T;
  r.step_sums.assign(static_cast<std::size_t>(E) * T * F, 0.0);
  std::vector<float> multipliers(static_cast<std::size_t>(E) * N);
  sim.reset(0);
  policies.reset();
  std::vector<Money> budget_before(multipliers.size());
  const Money budget_floor = budget_to_money(s.budget.floor);  // the backends' own "active" test
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < T; ++t) {
    policies.act(sim.state(), multipliers.data());
    budget_before = sim.state().remaining_money;
    sim.step(multipliers.data());
    const MarketState& st = sim.state();
    for (int e = 0; e < E; ++e) {
      double* row = &r.step_sums[(static_cast<std::size_t>(e) * T + t) * F];
      row[EpisodeRecords::kImpressions] = st.impressions[static_cast<std::size_t>(e) * T + t];
      row[EpisodeRecords::kPasses] = st.passes[static_cast<std::size_t>(e) * T + t];
      double multiplier_sum = 0;
      int active = 0;
      for (int i = 0; i < N; ++i) {
        const std::size_t a = st.index(e, i);
        const bool is_active = budget_before[a] >= budget_floor && budget_before[a] > 0;
        active += is_active;
        if (is_active) multiplier_sum += st.step_multiplier[a];
        row[EpisodeRecords::kValue] += st.step_value[a];
        row[EpisodeRecords::kCost] += st.step_cost[a];
        row[EpisodeRecords::kConversions] += st.step_conversions[a];
        row[EpisodeRecords::kReward] += st.step_reward[a];
        row[EpisodeRecords::kWins] += st.step_wins[a];
        row[EpisodeRecords::kExposures] += st.step_exposures[a];
      }
      row[EpisodeRecords::kActiveAgents] = active;
      row[EpisodeRecords::kMeanMultiplier] = active > 0 ? multiplier_sum / active : 0.0;
    }
    if (on_step) on_step(t + 1, T);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const MarketState& st = sim.state();
  r.value = st.value;
  r.cost = st.cost;
  r.reward = st.reward;
  r.conversions = st.conversions;
  r.wins.assign(st.wins.begin(), st.wins.end());
  r.exposures.assign(st.exposures.begin(), st.exposures.end());
  r.revenue = st.revenue;
  return r;
}

SimulationResult reduce_episodes(const Scenario& s, const EpisodeRecords& rec) {
  const int E = rec.envs, N = rec.agents, T = rec.steps;
  constexpr int F = EpisodeRecords::kStepFields;
  SimulationResult r;
  r.envs = E;
  r.agents = N;
  r.steps = T;
  r.seconds = rec.seconds;
  for (int t = 0; t < T; ++t) {
    StepRecord row;
    row.step = t;
    double* field[F] = {&row.impressions, &row.passes, &row.active_agents, &row.mean_multiplier, &row.value,
                        &row.cost, &row.conversions, &row.reward, &row.wins, &row.exposures};
    for (int e = 0; e < E; ++e) {
      const double* sums = &rec.step_sums[(static_cast<std::size_t>(e) * T + t) * F];
      for (int k = 0; k < F; ++k) *field[k] += sums[k];
    }
    for (double* x : field) *x /= E;
    r.steps_record.push_back(row);
  }

  r.has_score = !s.agents.cpa.empty();
  for (auto* v : {&r.value, &r.cost, &r.reward, &r.conversions, &r.wins, &r.exposures, &r.score, &r.budget_spent})
    v->assign(N, 0.0);
  for (int e = 0; e < E; ++e) {
    for (int t = 0; t < T; ++t)
      r.impressions += rec.step_sums[(static_cast<std::size_t>(e) * T + t) * F + EpisodeRecords::kImpressions];
    r.revenue += rec.revenue[e];
    for (int i = 0; i < N; ++i) {
      const std::size_t a = static_cast<std::size_t>(e) * N + i;
      r.value[i] += rec.value[a];
      r.cost[i] += rec.cost[a];
      r.reward[i] += rec.reward[a];
      r.conversions[i] += rec.conversions[a];
      r.wins[i] += rec.wins[a];
      r.exposures[i] += rec.exposures[a];
      if (r.has_score) r.score[i] += auctionnet_score(rec.conversions[a], rec.cost[a], s.agents.cpa[i]);
      r.social_welfare += rec.reward[a];
    }
  }
  for (int i = 0; i < N; ++i) {
    for (double* x : {&r.value[i], &r.cost[i], &r.reward[i], &r.conversions[i], &r.wins[i], &r.exposures[i], &r.score[i]})
      *x /= E;
    r.budget_spent[i] = s.agents.budget[i] > 0 ? r.cost[i] / s.agents.budget[i] : 0.0;
  }
  r.impressions /= E;
  r.revenue /= E;
  r.social_welfare /= E;
  for (const StepRecord& row : r.steps_record) r.passes_per_step += row.passes / T;
  return r;
}

SimulationResult simulate(Simulator& sim, BuiltinPolicies& policies) {
  return reduce_episodes(sim.scenario(), run_episode(sim, policies));
}

}  // namespace bidsim
