// Episode driver for `simulate`: act, step, record; the reductions run outside the timed loop
// except the per-step rows, which read the state the step left.
#include "engine/simulate.hpp"

#include <chrono>

#include "engine/physics.hpp"

namespace bidsim {

SimulationResult simulate(Simulator& sim, BuiltinPolicies& policies) {
  const Scenario& s = sim.scenario();
  const int E = s.market.envs, N = s.agents.count, T = s.market.steps;
  SimulationResult r;
  r.envs = E;
  r.agents = N;
  r.steps = T;
  std::vector<float> multipliers(static_cast<std::size_t>(E) * N);
  sim.reset(0);
  policies.reset();
  std::vector<double> budget_before(multipliers.size());
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < T; ++t) {
    policies.act(sim.state(), multipliers.data());
    budget_before = sim.state().remaining_budget;
    sim.step(multipliers.data());
    const MarketState& st = sim.state();
    StepRecord row;
    row.step = t;
    for (int e = 0; e < E; ++e) {
      row.impressions += st.impressions[static_cast<std::size_t>(e) * T + t];
      row.passes += st.passes[static_cast<std::size_t>(e) * T + t];
      double multiplier_sum = 0;
      int active = 0;
      for (int i = 0; i < N; ++i) {
        const std::size_t a = st.index(e, i);
        const bool is_active = budget_before[a] >= s.budget.floor && budget_before[a] > 0;
        active += is_active;
        if (is_active) multiplier_sum += st.step_multiplier[a];
        row.value += st.step_value[a];
        row.cost += st.step_cost[a];
        row.conversions += st.step_conversions[a];
        row.reward += st.step_reward[a];
        row.wins += st.step_wins[a];
        row.exposures += st.step_exposures[a];
      }
      row.active_agents += active;
      row.mean_multiplier += active > 0 ? multiplier_sum / active : 0.0;
    }
    for (double* x : {&row.impressions, &row.passes, &row.active_agents, &row.value, &row.cost,
                      &row.conversions, &row.reward, &row.wins, &row.exposures, &row.mean_multiplier})
      *x /= E;
    r.steps_record.push_back(row);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const MarketState& st = sim.state();
  r.has_score = !s.agents.cpa.empty();
  for (auto* v : {&r.value, &r.cost, &r.reward, &r.conversions, &r.wins, &r.exposures, &r.score, &r.budget_spent})
    v->assign(N, 0.0);
  for (int e = 0; e < E; ++e) {
    for (int t = 0; t < T; ++t) r.impressions += st.impressions[static_cast<std::size_t>(e) * T + t];
    r.revenue += st.revenue[e];
    for (int i = 0; i < N; ++i) {
      const std::size_t a = st.index(e, i);
      r.value[i] += st.value[a];
      r.cost[i] += st.cost[a];
      r.reward[i] += st.reward[a];
      r.conversions[i] += st.conversions[a];
      r.wins[i] += double(st.wins[a]);
      r.exposures[i] += double(st.exposures[a]);
      if (r.has_score) r.score[i] += auctionnet_score(st.conversions[a], st.cost[a], s.agents.cpa[i]);
      r.social_welfare += st.reward[a];
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

}  // namespace bidsim
