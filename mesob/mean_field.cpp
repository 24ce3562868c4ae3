// Γ, welfare, exploitability, Π and the MESOB-OMO objective with its exact gradient (see
// mean_field.hpp). Everything is plain loops over small dense arrays, so one iteration of the
// paper-sized game costs a few microseconds on one core; the OMO math itself is in omo_kernel.hpp.
#include "mesob/mean_field.hpp"

#include <algorithm>
#include <cmath>

namespace bidsim::mesob {

namespace {

ScoreScratch scratch_at(std::vector<double>& buf, int m) {
  return {buf.data(), buf.data() + m, buf.data() + 2 * m, buf.data() + 3 * m, buf.data() + 4 * m};
}

}  // namespace

SliceEvaluator::SliceEvaluator(const AuctionGame& game)
    : game_(game), view_(game.view()), scratch_(5 * static_cast<std::size_t>(game.scores())) {}

void SliceEvaluator::metrics(const double* slice, double* ctr, double* sale, double* cpc, double* reward) {
  const ScoreScratch w = scratch_at(scratch_, view_.scores);
  auction_forward(view_, slice, w);
  for (int p = 0; p < game_.pairs(); ++p) {
    const PairMetrics pm = pair_metrics(view_, w, p);
    if (ctr) ctr[p] = pm.ctr;
    if (sale) sale[p] = pm.sale;
    if (cpc) cpc[p] = pm.cpc;
    if (reward) reward[p] = pm.reward;
  }
}

Flow population_flow(const AuctionGame& game, const Policy& policy) {
  const int S = game.states(), A = game.actions(), SA = game.pairs(), T = game.horizon();
  Flow L(static_cast<std::size_t>(T + 1) * SA, 0.0);
  std::vector<double> mu(game.mu0());
  for (int t = 0; t <= T; ++t) {
    double* Lt = &L[static_cast<std::size_t>(t) * SA];
    const double* pi = &policy[static_cast<std::size_t>(t) * SA];
    for (int s = 0; s < S; ++s)
      for (int a = 0; a < A; ++a) Lt[s * A + a] = mu[s] * pi[s * A + a];
    if (t == T) break;
    // The auction's P does not depend on L_t; a game whose P did would evaluate it here.
    const double* P = &game.transition()[static_cast<std::size_t>(t) * SA * S];
    std::fill(mu.begin(), mu.end(), 0.0);
    for (int p = 0; p < SA; ++p)
      for (int s2 = 0; s2 < S; ++s2) mu[s2] += Lt[p] * P[p * S + s2];
  }
  return L;
}

FlowMetrics flow_metrics(const AuctionGame& game, const Flow& flow) {
  const std::size_t n = flow.size();
  FlowMetrics m{std::vector<double>(n), std::vector<double>(n), std::vector<double>(n), std::vector<double>(n)};
  SliceEvaluator eval(game);
  const int SA = game.pairs();
  for (int t = 0; t < game.slices(); ++t) {
    const std::size_t o = static_cast<std::size_t>(t) * SA;
    eval.metrics(&flow[o], &m.ctr[o], &m.sale[o], &m.cpc[o], &m.reward[o]);
  }
  return m;
}

Welfare welfare_of(const AuctionGame& game, const Flow& flow) {
  const FlowMetrics m = flow_metrics(game, flow);
  Welfare w;
  for (std::size_t i = 0; i < flow.size(); ++i) {
    w.v1 += flow[i] * m.ctr[i];
    w.v2 += flow[i] * m.sale[i];
    w.v3 += flow[i] * m.cpc[i];
  }
  w.value = welfare_link(game.welfare(), w.v1, w.v2, w.v3);
  return w;
}

ExploitabilityResult exploitability(const AuctionGame& game, const Policy& policy) {
  const int S = game.states(), A = game.actions(), SA = game.pairs(), T = game.horizon();
  ExploitabilityResult out;
  out.flow = population_flow(game, policy);
  const Flow& L = out.flow;
  out.best_response.assign(L.size(), 0.0);
  out.value_policy.assign(static_cast<std::size_t>(T + 1) * S, 0.0);
  out.value_best.assign(static_cast<std::size_t>(T + 1) * S, 0.0);
  SliceEvaluator eval(game);
  std::vector<double> reward(SA);
  for (int t = T; t >= 0; --t) {
    eval.metrics(&L[static_cast<std::size_t>(t) * SA], nullptr, nullptr, nullptr, reward.data());
    const double* pi = &policy[static_cast<std::size_t>(t) * SA];
    const double* P = t < T ? &game.transition()[static_cast<std::size_t>(t) * SA * S] : nullptr;
    const double* next_pi = t < T ? &out.value_policy[static_cast<std::size_t>(t + 1) * S] : nullptr;
    const double* next_best = t < T ? &out.value_best[static_cast<std::size_t>(t + 1) * S] : nullptr;
    for (int s = 0; s < S; ++s) {
      double v_pi = 0, v_best = -HUGE_VAL;
      int best = 0;
      for (int a = 0; a < A; ++a) {
        const int p = s * A + a;
        double q_pi = reward[p], q_best = reward[p];
        if (P) {
          for (int s2 = 0; s2 < S; ++s2) {
            q_pi += P[p * S + s2] * next_pi[s2];
            q_best += P[p * S + s2] * next_best[s2];
          }
        }
        v_pi += pi[p] * q_pi;
        if (q_best > v_best) { v_best = q_best; best = a; }
      }
      out.value_policy[static_cast<std::size_t>(t) * S + s] = v_pi;
      out.value_best[static_cast<std::size_t>(t) * S + s] = v_best;
      out.best_response[static_cast<std::size_t>(t) * SA + s * A + best] = 1.0;
    }
  }
  for (int s = 0; s < S; ++s)
    out.exploitability += game.mu0()[s] * (out.value_best[s] - out.value_policy[s]);
  // Rounding can leave −1e-17 at an exact equilibrium; eq. (5) is ≥ 0 by definition.
  out.exploitability = std::max(0.0, out.exploitability);
  return out;
}

Policy retrieve_policy(const AuctionGame& game, const std::vector<double>& d) {
  const int A = game.actions();
  Policy pi(d.size());
  for (std::size_t row = 0; row < d.size(); row += A) {
    double total = 0;
    for (int a = 0; a < A; ++a) total += std::max(0.0, d[row + a]);
    for (int a = 0; a < A; ++a) pi[row + a] = total > 0 ? std::max(0.0, d[row + a]) / total : 1.0 / A;
  }
  return pi;
}

Policy uniform_policy(const AuctionGame& game) {
  return Policy(static_cast<std::size_t>(game.slices()) * game.pairs(), 1.0 / game.actions());
}

OmoProblem omo_problem(const AuctionGame& game) {
  OmoProblem p;
  p.auction = game.view();
  p.states = game.states();
  p.actions = game.actions();
  p.pairs = game.pairs();
  p.slices = game.slices();
  p.scores = game.scores();
  p.transition = game.transition().data();
  p.mu0 = game.mu0().data();
  p.welfare = game.welfare();
  const int T = game.horizon();
  const double r_max = game.reward_bound();
  p.z_bound = static_cast<double>(p.pairs) * (double(T) * T + T + 2) * r_max;
  p.y_radius = static_cast<double>(p.states) * (T + 1) * (T + 2) * r_max / 2;
  const int S = p.states, SA = p.pairs;
  p.state_preserving = true;
  for (std::size_t row = 0; row < static_cast<std::size_t>(T) * SA && p.state_preserving; ++row)
    for (int s2 = 0; s2 < S; ++s2)
      p.state_preserving &= game.transition()[row * S + s2] == (s2 == static_cast<int>(row % SA) / game.actions() ? 1.0 : 0.0);
  return p;
}

OmoObjective::OmoObjective(const AuctionGame& game)
    : problem_(omo_problem(game)), workspace_(omo_workspace_size(problem_), 0.0) {}

OmoTerms OmoObjective::evaluate(const OmoWeights& w, const double* y, const double* z, const double* d,
                                double* grad_y, double* grad_z, double* grad_d, const OmoMultipliers& mult) {
  return omo_evaluate(SerialLanes{}, problem_, w, y, z, d, grad_y, grad_z, grad_d, omo_workspace(problem_, workspace_.data()),
                      mult);
}

}  // namespace bidsim::mesob
