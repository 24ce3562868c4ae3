// Observation vectors: see the field list in market_state.hpp and scenarios/README.md.
#include "engine/core/observation.hpp"

#include <cmath>
#include <numeric>

namespace bidsim {

const char* observation_field_name(int field) {
  static const char* const names[kObservationWidth] = {
      "time_left",  "budget_left",    "last_win_rate", "last_spend_share",
      "last_value_share", "last_price_per_win", "mean_win_rate", "spend_pace",
      "category",   "value_scale",    "budget_level",  "cpa_target"};
  return field >= 0 && field < kObservationWidth ? names[field] : "?";
}

ObservationContext ObservationContext::from(const Scenario& s) {
  const int N = s.agents.count;
  ObservationContext ctx;
  // Infinite budgets (allowed: budgets that never bind) read as budget_left 1 and budget_level 1.
  double finite_sum = 0;
  int finite = 0;
  for (double b : s.agents.budget)
    if (std::isfinite(b)) { finite_sum += b; ++finite; }
  const double mean_budget = finite > 0 ? finite_sum / finite : 0.0;
  const double mean_cpa = s.agents.cpa.empty()
      ? 0.0 : std::accumulate(s.agents.cpa.begin(), s.agents.cpa.end(), 0.0) / N;
  const int categories = s.agents.categories;
  for (int i = 0; i < N; ++i) {
    ctx.category.push_back(categories > 1 ? float(s.agents.category[i]) / float(categories - 1) : 0.0f);
    ctx.value_scale.push_back(float(s.agents.value_scale[i]));
    const double b = s.agents.budget[i];
    ctx.budget_level.push_back(!std::isfinite(b) ? 1.0f : (mean_budget > 0 ? float(b / mean_budget) : 0.0f));
    ctx.cpa_level.push_back(mean_cpa > 0 ? float(s.agents.cpa[i] / mean_cpa) : 0.0f);
    ctx.budget.push_back(s.agents.budget[i]);
  }
  return ctx;
}

AgentObservationStatics ObservationContext::statics(int i) const {
  const bool bounded = std::isfinite(budget[i]);
  return {category[i], value_scale[i], budget_level[i], cpa_level[i],
          bounded && budget[i] > 0 ? budget[i] : 1.0, bounded};
}

void write_observations(const ObservationContext& ctx, MarketState& st, int e, int step) {
  for (int i = 0; i < st.agents; ++i) {
    const std::size_t a = st.index(e, i);
    const AgentObservationState s{st.remaining_budget[a], st.step_cost[a], st.step_value[a], st.cost[a],
                                  st.step_wins[a], st.step_bid_count[a], st.wins[a], st.bid_count[a]};
    observe_agent(ctx.statics(i), s, step, st.steps, &st.observation[a * kObservationWidth]);
  }
}

}  // namespace bidsim
