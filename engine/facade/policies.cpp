// Built-in policies. PID pacing works in log-multiplier space on the relative error between the
// budget share spent and the share of expected traffic already past, so gains do not depend on units.
#include "engine/facade/policies.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "engine/core/errors.hpp"

namespace bidsim {

BuiltinPolicies::BuiltinPolicies(const Scenario& s) : scenario_(s) {
  const int E = s.market.envs, N = s.agents.count, T = s.market.steps;
  slot_.assign(static_cast<std::size_t>(E) * N, 0);
  for (std::size_t p = 0; p < s.policies.size(); ++p)
    for (int i : s.policies[p].agents)
      for (int e = 0; e < E; ++e) slot_[static_cast<std::size_t>(e) * N + i] = static_cast<std::int32_t>(p);
  // Deviations name global env indices; a shard (MPI rank) applies those inside its block.
  for (const Deviation& d : s.deviations) {
    const int local = d.env - s.market.first_env;
    if (local >= 0 && local < E) slot_[static_cast<std::size_t>(local) * N + d.agent] = d.policy;
  }

  // Pacing target: the expected traffic profile when there is one, else uniform over steps.
  std::vector<double> weight(T, 1.0);
  if (!s.impressions.profile.empty()) weight = s.impressions.profile;
  if (s.values.model == ValueModel::file)
    for (int t = 0; t < T; ++t) weight[t] = s.values.file.impressions[t];
  const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
  target_share_.assign(T + 1, 0.0);
  for (int t = 0; t < T; ++t)
    target_share_[t + 1] = target_share_[t] + (total > 0 ? weight[t] / total : 1.0 / T);
  reset();
}

void BuiltinPolicies::reset() {
  integral_.assign(slot_.size(), 0.0);
  last_error_.assign(slot_.size(), 0.0);
}

void BuiltinPolicies::act(const MarketState& st, float* multipliers) {
  const int E = st.envs, N = st.agents, t = st.step;
  const auto& policies = scenario_.policies;
  for (int e = 0; e < E; ++e)
    for (int i = 0; i < N; ++i) {
      const std::size_t a = st.index(e, i);
      const PolicyConfig& p = policies[slot_[a]];
      double m = 1.0;
      switch (p.kind) {
        case PolicyKind::truthful: m = 1.0; break;
        case PolicyKind::constant: m = p.multiplier[i]; break;
        case PolicyKind::cpa: m = p.cpa_factor * scenario_.agents.cpa[i]; break;
        case PolicyKind::pid: {
          const double budget = scenario_.agents.budget[i];
          const double spent = std::isfinite(budget) && budget > 0 ? st.cost[a] / budget : 0.0;
          const double target = target_share_[t];
          const double error = target > 0 ? (target - spent) / target : 0.0;
          integral_[a] += error;
          const double derivative = t > 0 ? error - last_error_[a] : 0.0;
          last_error_[a] = error;
          const double log_m = std::log(p.pid.initial) + p.pid.kp * error + p.pid.ki * integral_[a] +
                               p.pid.kd * derivative;
          m = std::clamp(std::exp(std::clamp(log_m, -80.0, 80.0)), p.pid.min_multiplier, p.pid.max_multiplier);
          break;
        }
      }
      multipliers[a] = static_cast<float>(m);
    }
}

Scenario with_builtin_policy(const Scenario& scenario, const std::string& spec) {
  if (spec == "scenario") return scenario;
  Scenario s = scenario;
  PolicyConfig p;
  p.name = spec;
  for (int i = 0; i < s.agents.count; ++i) p.agents.push_back(i);
  if (spec == "truthful") {
    p.kind = PolicyKind::truthful;
  } else if (spec.rfind("constant:", 0) == 0) {
    const std::string number = spec.substr(9);
    char* end = nullptr;
    const double x = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || !std::isfinite(x) || x < 0)
      throw UsageError("--policy: got '" + spec + "', expected constant:X with a number X >= 0");
    p.kind = PolicyKind::constant;
    p.multiplier.assign(s.agents.count, x);
  } else {
    throw UsageError("--policy: got '" + spec + "', expected truthful, constant:X or scenario");
  }
  s.policies = {p};
  s.deviations.clear();
  return s;
}

}  // namespace bidsim
