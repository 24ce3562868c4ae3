// summary.json fields and the human summary of an exploitability evaluation, shared by train and evaluate.
#include "tools/evaluation_output.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace bidsim {

namespace {

using rl::Candidate;
using rl::EvaluationResult;

std::string fixed(double x, int digits) {
  if (std::isnan(x)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, x);
  return b;
}

nlohmann::json table3_json(const EvaluationResult& e, bool deterministic) {
  nlohmann::json t;
  std::vector<double> rp, ru, rs, pr, prl, prh, ur, url, urh;
  std::vector<std::string> star;
  for (const rl::AgentEvaluation& a : e.per_agent) {
    const rl::Table3Row& r = deterministic ? a.deterministic : a.stochastic;
    rp.push_back(r.r_policy);
    ru.push_back(r.r_unified);
    rs.push_back(r.r_star);
    star.push_back(rl::to_string(r.star));
    pr.push_back(r.policy_ratio.ratio);
    prl.push_back(r.policy_ratio.low);
    prh.push_back(r.policy_ratio.high);
    ur.push_back(r.unified_ratio.ratio);
    url.push_back(r.unified_ratio.low);
    urh.push_back(r.unified_ratio.high);
  }
  t["r_policy"] = rp;
  t["r_unified"] = ru;
  t["r_star"] = rs;
  t["r_star_candidate"] = star;
  t["policy_ratio"] = pr;
  t["policy_ratio_low"] = prl;
  t["policy_ratio_high"] = prh;
  t["unified_ratio"] = ur;
  t["unified_ratio_low"] = url;
  t["unified_ratio_high"] = urh;
  return t;
}

}  // namespace

nlohmann::json evaluation_json(const EvaluationResult& e, int agents) {
  nlohmann::json j;
  j["social_welfare"] = e.social_welfare;
  j["revenue"] = e.revenue;
  j["max_exploitability"] = e.max_exploitability;
  j["max_exploitability_low"] = e.max_exploitability_low;
  j["max_exploitability_high"] = e.max_exploitability_high;
  j["confidence"] = e.confidence;
  j["evaluated_agents"] = e.agents;
  nlohmann::json curve = nlohmann::json::array();
  for (const rl::CurvePoint& c : e.curve)
    curve.push_back({{"step", c.step}, {"mean_gain", c.mean_gain}, {"max_gain", c.max_gain},
                     {"improved_agents", c.improved_agents}});
  j["best_response"] = {{"steps", e.best_response_steps},
                        {"max_steps", e.max_best_response_steps},
                        {"stop_reason", e.stop_reason},
                        {"envs_per_agent", e.envs_per_agent},
                        {"selection_envs_per_agent", e.selection_envs_per_agent},
                        {"eval_envs_per_agent", e.eval_envs_per_agent},
                        {"curve", curve}};
  nlohmann::json pa;
  pa["return"] = e.returns;
  pa["cost"] = e.costs;
  // The rest is aligned with evaluated_agents (all agents unless N > best_response.max_agents).
  std::vector<double> normalized, low, high, paired, best, unified, unified_ratio;
  std::vector<std::string> chosen;
  std::vector<int> kept_step;
  for (const rl::AgentEvaluation& a : e.per_agent) {
    normalized.push_back(e.social_welfare > 0 ? a.exploitability.mean / e.social_welfare : 0.0);
    low.push_back(a.exploitability.low);
    high.push_back(a.exploitability.high);
    paired.push_back(a.base_return);
    best.push_back(a.candidates[static_cast<int>(a.chosen)].report_return);
    chosen.push_back(rl::to_string(a.chosen));
    kept_step.push_back(a.best_response_step);
    unified.push_back(a.stochastic.r_unified);
    unified_ratio.push_back(a.stochastic.unified_ratio.ratio);
  }
  pa["exploitability"] = e.exploitability;
  pa["exploitability_low"] = low;
  pa["exploitability_high"] = high;
  pa["exploitability_normalized"] = normalized;
  pa["paired_return"] = paired;
  pa["best_response_return"] = best;
  pa["chosen_deviation"] = chosen;
  pa["best_response_step"] = kept_step;
  nlohmann::json candidates;
  for (int c = 0; c < rl::kCandidates; ++c) {
    if (e.per_agent.empty() || !e.per_agent.front().candidates[c].available) continue;
    std::vector<double> sel, gain, glow, ghigh, ret;
    for (const rl::AgentEvaluation& a : e.per_agent) {
      sel.push_back(a.candidates[c].selection_gain);
      gain.push_back(a.candidates[c].report_gain.mean);
      glow.push_back(a.candidates[c].report_gain.low);
      ghigh.push_back(a.candidates[c].report_gain.high);
      ret.push_back(a.candidates[c].report_return);
    }
    candidates[rl::to_string(static_cast<Candidate>(c))] = {
        {"selection_gain", sel}, {"report_gain", gain}, {"report_gain_low", glow}, {"report_gain_high", ghigh},
        {"report_return", ret}};
  }
  pa["candidates"] = candidates;
  if (e.has_unified) {
    pa["unified_solution_return"] = unified;  // R(x*) of Table 3 (stochastic)
    pa["unified_ratio"] = unified_ratio;      // R(x*)/R*, R* among the stochastic candidates
  }
  j["per_agent"] = pa;
  j["table3"] = {{"stochastic", table3_json(e, false)}, {"deterministic", table3_json(e, true)}};
  j["agents"] = agents;
  j["evaluation_seconds"] = e.seconds;
  return j;
}

void print_evaluation(std::ostream& out, const EvaluationResult& e, double epsilon) {
  const int percent = static_cast<int>(std::lround(100 * e.confidence));
  out << "  evaluation  social welfare " << e.social_welfare << "   revenue " << e.revenue << "\n"
      << "  max exploitability " << fixed(e.max_exploitability, 4) << " of social welfare, " << percent
      << "% interval [" << fixed(e.max_exploitability_low, 4) << ", " << fixed(e.max_exploitability_high, 4)
      << "] (eq. 15, simultaneous over " << e.agents.size() << " agents";
  if (epsilon >= 0)
    out << "; " << (rl::complies(e, epsilon) ? "complies: upper bound within" : "does not comply: upper bound above")
        << " epsilon " << epsilon;
  out << ")\n";
  out << "  best responses: " << e.agents.size() << " agents x " << e.envs_per_agent << " envs, "
      << e.best_response_steps << " of at most " << e.max_best_response_steps << " steps (" << e.stop_reason
      << "); chosen on " << e.selection_envs_per_agent << " and reported on " << e.eval_envs_per_agent
      << " independent envs per agent; " << fixed(e.seconds, 1) << " s\n";
  if (!e.curve.empty()) {
    out << "  held-out gain by step, mean / max over agents, share of social welfare:";
    const double sw = e.social_welfare != 0 ? std::fabs(e.social_welfare) : 1.0;
    for (std::size_t k = 0; k < e.curve.size(); ++k) {
      if (k % 6 == 0) out << "\n   ";
      out << "  " << e.curve[k].step << ": " << fixed(e.curve[k].mean_gain / sw, 4) << " / "
          << fixed(e.curve[k].max_gain / sw, 4);
    }
    out << "\n";
  }
  std::map<std::string, int> counts;
  for (const rl::AgentEvaluation& a : e.per_agent) ++counts[rl::to_string(a.chosen)];
  out << "  chosen deviations:";
  for (const auto& [name, count] : counts) out << " " << name << " " << count;
  out << "\n";
  if (e.has_unified && e.per_agent.size() <= 20) {
    out << "  Table 3 (R* = best of theta, best response, x* chosen on the selection draws; " << percent
        << "% intervals of the ratios)\n";
    for (bool deterministic : {false, true}) {
      out << "    " << (deterministic ? "deterministic (policy means)" : "stochastic (as trained)") << "\n";
      out << "      agent      R(theta)     R(x*)        R*   R(theta)/R*                 R(x*)/R*\n";
      for (const rl::AgentEvaluation& a : e.per_agent) {
        const rl::Table3Row& r = deterministic ? a.deterministic : a.stochastic;
        char line[256];
        std::snprintf(line, sizeof line, "      %5d %12.1f %9.1f %9.1f   %5.1f%% [%5.1f, %5.1f]   %5.1f%% [%5.1f, %5.1f]\n",
                      a.agent, r.r_policy, r.r_unified, r.r_star, 100 * r.policy_ratio.ratio,
                      100 * r.policy_ratio.low, 100 * r.policy_ratio.high, 100 * r.unified_ratio.ratio,
                      100 * r.unified_ratio.low, 100 * r.unified_ratio.high);
        out << line;
      }
    }
  }
}

}  // namespace bidsim
