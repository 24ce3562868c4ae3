// Γ, welfare, exploitability, Π and the MESOB-OMO objective with its exact gradient (see
// mean_field.hpp). Everything is plain loops over small dense arrays, so one iteration of the
// paper-sized game costs a few microseconds on one core.
#include "mesob/mean_field.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

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

double welfare_link(const WelfareParams& w, double v1, double v2, double v3, double* grad) {
  const double revenue = v1 * v3 + w.eps0;           // V1 × V3 + ε0
  const double roas = v2 / revenue;                  // V2 / (V1 V3 + ε0)
  const double value = w.c1 * std::log(v1 + w.eps1) + w.c2 * std::log(roas + w.eps2) +
                       w.c3 * std::log(v1 * v3 + w.eps3);
  if (grad) {
    const double d_roas = w.c2 / (roas + w.eps2);
    const double d_pub = w.c3 / (v1 * v3 + w.eps3);
    grad[0] = w.c1 / (v1 + w.eps1) - d_roas * v2 * v3 / (revenue * revenue) + d_pub * v3;
    grad[1] = d_roas / revenue;
    grad[2] = -d_roas * v2 * v1 / (revenue * revenue) + d_pub * v1;
  }
  return value;
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

void project_simplex(double* x, int n, double radius, double* scratch) {
  // Duchi et al. (2008): find θ with Σ max(x_i − θ, 0) = radius from the sorted values.
  std::copy(x, x + n, scratch);
  std::sort(scratch, scratch + n, std::greater<double>());
  double cumulative = 0, theta = 0;
  for (int i = 0; i < n; ++i) {
    cumulative += scratch[i];
    const double candidate = (cumulative - radius) / (i + 1);
    if (i + 1 == n || scratch[i + 1] <= candidate) {
      theta = candidate;
      break;
    }
  }
  for (int i = 0; i < n; ++i) x[i] = std::max(0.0, x[i] - theta);
}

void project_capped_nonnegative(double* z, int n, double bound, double* scratch) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += std::max(0.0, z[i]);
  if (total <= bound) {
    for (int i = 0; i < n; ++i) z[i] = std::max(0.0, z[i]);
    return;
  }
  project_simplex(z, n, bound, scratch);
}

void project_ball(double* y, int n, double radius) {
  double norm2 = 0;
  for (int i = 0; i < n; ++i) norm2 += y[i] * y[i];
  if (norm2 <= radius * radius) return;
  const double scale = radius / std::sqrt(norm2);
  for (int i = 0; i < n; ++i) y[i] *= scale;
}

OmoObjective::OmoObjective(const AuctionGame& game)
    : game_(game), view_(game.view()), S_(game.states()), A_(game.actions()), SA_(game.pairs()),
      T1_(game.slices()), m_(game.scores()) {
  const int T = game.horizon();
  const double r_max = game.reward_bound();
  z_bound_ = static_cast<double>(SA_) * (double(T) * T + T + 2) * r_max;
  y_radius_ = static_cast<double>(S_) * (T + 1) * (T + 2) * r_max / 2;
  const std::size_t scores = static_cast<std::size_t>(T1_) * m_, pairs = static_cast<std::size_t>(T1_) * SA_;
  for (auto* v : {&mass_, &below_, &win_, &tie_, &pay_}) v->assign(scores, 0.0);
  for (auto* v : {&ctr_, &sale_, &cpc_, &reward_, &best_response_res_}) v->assign(pairs, 0.0);
  consistency_res_.assign(static_cast<std::size_t>(T1_) * S_, 0.0);
  for (auto* v : {&g_win_, &g_tie_, &g_pay_, &g_mass_}) v->assign(m_, 0.0);
  g_slice_.assign(SA_, 0.0);
}

OmoTerms OmoObjective::evaluate(const OmoWeights& w, const double* y, const double* z, const double* d,
                                double* grad_y, double* grad_z, double* grad_d) {
  const int S = S_, A = A_, SA = SA_, T = T1_ - 1, m = m_;
  const double* P = game_.transition().data();
  const double* mu0 = game_.mu0().data();
  OmoTerms out;

  // Forward: closed forms per slice, the metrics V_k, and z·d.
  for (int t = 0; t <= T; ++t) {
    const std::size_t so = static_cast<std::size_t>(t) * m, po = static_cast<std::size_t>(t) * SA;
    const ScoreScratch sc{&mass_[so], &below_[so], &win_[so], &tie_[so], &pay_[so]};
    auction_forward(view_, d + po, sc);
    for (int p = 0; p < SA; ++p) {
      const PairMetrics pm = pair_metrics(view_, sc, p);
      ctr_[po + p] = pm.ctr;
      sale_[po + p] = pm.sale;
      cpc_[po + p] = pm.cpc;
      reward_[po + p] = pm.reward;
      out.welfare.v1 += d[po + p] * pm.ctr;
      out.welfare.v2 += d[po + p] * pm.sale;
      out.welfare.v3 += d[po + p] * pm.cpc;
      out.complementarity += z[po + p] * d[po + p];
    }
  }
  double dF[3];
  out.welfare.value = welfare_link(game_.welfare(), out.welfare.v1, out.welfare.v2, out.welfare.v3, dF);

  // g^CS residuals: e_0(s) = Σ_a d_0(s,a) − μ0(s); e_{t+1}(s') = Σ_a d_{t+1}(s',a) − Σ_{s,a} d_t(s,a) P_t(s'|s,a).
  for (int t = 0; t <= T; ++t) {
    double* e = &consistency_res_[static_cast<std::size_t>(t) * S];
    const double* dt = d + static_cast<std::size_t>(t) * SA;
    for (int s = 0; s < S; ++s) {
      double row = 0;
      for (int a = 0; a < A; ++a) row += dt[s * A + a];
      e[s] = row - (t == 0 ? mu0[s] : 0.0);
    }
    if (t > 0) {
      const double* prev = d + static_cast<std::size_t>(t - 1) * SA;
      const double* Pt = P + static_cast<std::size_t>(t - 1) * SA * S;
      for (int p = 0; p < SA; ++p)
        for (int s2 = 0; s2 < S; ++s2) e[s2] -= prev[p] * Pt[p * S + s2];
    }
    for (int s = 0; s < S; ++s) out.consistency += e[s] * e[s];
  }

  // h^BR residuals q_t(s,a) = y_t(s) − Σ_s' P_t(s'|s,a) y_{t+1}(s') + z_t(s,a) + r_t(s,a).
  for (int t = 0; t <= T; ++t) {
    const std::size_t po = static_cast<std::size_t>(t) * SA;
    const double* yt = y + static_cast<std::size_t>(t) * S;
    const double* ynext = t < T ? y + static_cast<std::size_t>(t + 1) * S : nullptr;
    const double* Pt = t < T ? P + static_cast<std::size_t>(t) * SA * S : nullptr;
    for (int p = 0; p < SA; ++p) {
      double q = yt[p / A] + z[po + p] + reward_[po + p];
      if (ynext)
        for (int s2 = 0; s2 < S; ++s2) q -= Pt[p * S + s2] * ynext[s2];
      best_response_res_[po + p] = q;
      out.best_response += q * q;
    }
  }

  out.objective = -w.lambda1 * out.welfare.value + w.lambda2 * out.complementarity +
                  w.rho1 * out.consistency + w.rho2 * out.best_response;
  if (!grad_y && !grad_z && !grad_d) return out;

  // ∂/∂z = λ2 d + 2 ρ2 q.
  if (grad_z)
    for (int i = 0; i < T1_ * SA; ++i) grad_z[i] = w.lambda2 * d[i] + 2 * w.rho2 * best_response_res_[i];

  // ∂/∂y_t(s) = 2 ρ2 [Σ_a q_t(s,a) − Σ_{s2,a} q_{t−1}(s2,a) P_{t−1}(s|s2,a)].
  if (grad_y) {
    for (int t = 0; t <= T; ++t) {
      double* gy = grad_y + static_cast<std::size_t>(t) * S;
      const double* q = &best_response_res_[static_cast<std::size_t>(t) * SA];
      for (int s = 0; s < S; ++s) gy[s] = 0;
      for (int p = 0; p < SA; ++p) gy[p / A] += q[p];
      if (t > 0) {
        const double* qprev = &best_response_res_[static_cast<std::size_t>(t - 1) * SA];
        const double* Pt = P + static_cast<std::size_t>(t - 1) * SA * S;
        for (int p = 0; p < SA; ++p)
          for (int s2 = 0; s2 < S; ++s2) gy[s2] -= qprev[p] * Pt[p * S + s2];
      }
      for (int s = 0; s < S; ++s) gy[s] *= 2 * w.rho2;
    }
  }

  // ∂/∂d_t = −λ1 Σ_k ∂F/∂V_k (m_k + J_k^T d_t) + λ2 z_t + 2ρ1 (e_t(s) − Σ_s' P_t(s'|s,a) e_{t+1}(s'))
  //          + 2ρ2 J_r^T q_t, with the J^T products from one auction VJP per slice.
  if (grad_d) {
    for (int t = 0; t <= T; ++t) {
      const std::size_t so = static_cast<std::size_t>(t) * m, po = static_cast<std::size_t>(t) * SA;
      std::fill(g_win_.begin(), g_win_.end(), 0.0);
      std::fill(g_tie_.begin(), g_tie_.end(), 0.0);
      std::fill(g_pay_.begin(), g_pay_.end(), 0.0);
      for (int p = 0; p < SA; ++p) {
        const double dp = d[po + p];
        pair_cotangent(view_, p, -w.lambda1 * dF[0] * dp, -w.lambda1 * dF[1] * dp, -w.lambda1 * dF[2] * dp,
                       2 * w.rho2 * best_response_res_[po + p], g_win_.data(), g_tie_.data(), g_pay_.data());
      }
      const ScoreScratch sc{&mass_[so], &below_[so], &win_[so], &tie_[so], &pay_[so]};
      auction_vjp(view_, sc, g_win_.data(), g_tie_.data(), g_pay_.data(), g_mass_.data(), g_slice_.data());
      const double* e = &consistency_res_[static_cast<std::size_t>(t) * S];
      const double* enext = t < T ? &consistency_res_[static_cast<std::size_t>(t + 1) * S] : nullptr;
      const double* Pt = t < T ? P + static_cast<std::size_t>(t) * SA * S : nullptr;
      for (int p = 0; p < SA; ++p) {
        double cons = e[p / A];
        if (enext)
          for (int s2 = 0; s2 < S; ++s2) cons -= Pt[p * S + s2] * enext[s2];
        grad_d[po + p] = -w.lambda1 * (dF[0] * ctr_[po + p] + dF[1] * sale_[po + p] + dF[2] * cpc_[po + p]) +
                         w.lambda2 * z[po + p] + 2 * w.rho1 * cons + g_slice_[p];
      }
    }
  }
  return out;
}

}  // namespace bidsim::mesob
