// One MESOB-OMO iteration written once for host and device (paper §2.2, eq. 11): the objective with its
// exact gradient, the projections, and the projected Adam / gradient step, on raw pointers with no
// allocation, so OmoObjective / the CPU solvers and the CUDA batch (cuda/mesob_batch.cu) run the same code.
#pragma once

#include <cmath>
#include <cstddef>

#include "engine/host_device.hpp"
#include "mesob/auction_model.hpp"
#include "mesob/mean_field_types.hpp"

namespace bidsim::mesob {

// Everything one configuration's iteration reads about the game: the auction, the shapes, P_t and μ0
// (host or device pointers, never owned), the welfare link and the radii of the z set and y ball.
struct OmoProblem {
  AuctionView auction;
  int states = 0, actions = 0, pairs = 0;  // S, A, S*A
  int slices = 0;                          // T + 1
  int scores = 0;                          // m distinct scores
  const double* transition = nullptr;      // [T][S*A][S] P_t(s' | s, a)
  const double* mu0 = nullptr;             // [S] initial state distribution
  WelfareParams welfare;
  // The z set's bound SA(T²+T+2) r_max and the y ball's radius S(T+1)(T+2) r_max / 2 (§2.2).
  double z_bound = 0, y_radius = 0;
};

// Scratch of omo_evaluate, carved from one double buffer of omo_workspace_size doubles.
struct OmoWorkspace {
  // [T+1][m] per-score quantities of each slice, kept for the VJP.
  double *mass, *below, *win, *tie, *pay;
  // [T+1][S*A] per-pair metrics of each slice.
  double *ctr, *sale, *cpc, *reward;
  double* consistency_res;    // [T+1][S] e_t of g^CS
  double* best_response_res;  // [T+1][S*A] q_t of h^BR
  // [m] cotangents of one slice's per-score quantities, and [S*A] the slice's ∂/∂L.
  double *g_win, *g_tie, *g_pay, *g_mass, *g_slice;
};

BIDSIM_HD std::size_t omo_workspace_size(const OmoProblem& p) {
  const std::size_t T1 = p.slices, m = p.scores, SA = p.pairs;
  return 5 * T1 * m + 5 * T1 * SA + T1 * p.states + 4 * m + SA;
}

BIDSIM_HD OmoWorkspace omo_workspace(const OmoProblem& p, double* buf) {
  const std::size_t T1 = p.slices, m = p.scores, SA = p.pairs;
  OmoWorkspace w;
  w.mass = buf;
  w.below = w.mass + T1 * m;
  w.win = w.below + T1 * m;
  w.tie = w.win + T1 * m;
  w.pay = w.tie + T1 * m;
  w.ctr = w.pay + T1 * m;
  w.sale = w.ctr + T1 * SA;
  w.cpc = w.sale + T1 * SA;
  w.reward = w.cpc + T1 * SA;
  w.best_response_res = w.reward + T1 * SA;
  w.consistency_res = w.best_response_res + T1 * SA;
  w.g_win = w.consistency_res + T1 * p.states;
  w.g_tie = w.g_win + m;
  w.g_pay = w.g_tie + m;
  w.g_mass = w.g_pay + m;
  w.g_slice = w.g_mass + m;
  return w;
}

// One configuration's iterate x = (y, z, d), its gradient, Adam moments and scratch: one contiguous
// block of omo_state_size doubles (the CUDA batch keeps B such blocks, one per thread).
struct OmoState {
  double *y, *z, *d;                // [T+1][S], [T+1][S*A], [T+1][S*A]
  double *grad_y, *grad_z, *grad_d;  // same shapes
  double *adam_m, *adam_v;          // [|y| + 2|d|] first / second moments in (y, z, d) order
  double* scratch;                  // [max(|d|, S*A)] projection scratch
  OmoWorkspace work;
};

BIDSIM_HD std::size_t omo_state_size(const OmoProblem& p) {
  const std::size_t ny = static_cast<std::size_t>(p.slices) * p.states, nd = static_cast<std::size_t>(p.slices) * p.pairs;
  const std::size_t scratch = nd > static_cast<std::size_t>(p.pairs) ? nd : p.pairs;
  return 4 * (ny + 2 * nd) + scratch + omo_workspace_size(p);  // x, its gradient, two Adam moments
}

BIDSIM_HD OmoState omo_state(const OmoProblem& p, double* buf) {
  const std::size_t ny = static_cast<std::size_t>(p.slices) * p.states, nd = static_cast<std::size_t>(p.slices) * p.pairs;
  const std::size_t scratch = nd > static_cast<std::size_t>(p.pairs) ? nd : p.pairs;
  OmoState s;
  s.y = buf;
  s.z = s.y + ny;
  s.d = s.z + nd;
  s.grad_y = s.d + nd;
  s.grad_z = s.grad_y + ny;
  s.grad_d = s.grad_z + nd;
  s.adam_m = s.grad_d + nd;
  s.adam_v = s.adam_m + ny + 2 * nd;
  s.scratch = s.adam_v + ny + 2 * nd;
  s.work = omo_workspace(p, s.scratch + scratch);
  return s;
}

// max as std::max(a, b) computes it ((a < b) ? b : a), so NaN and signed zeros come out as before.
BIDSIM_HD double omo_max(double a, double b) { return (a < b) ? b : a; }

// F of eq. (7) and, when `grad` is given, ∂F/∂V1..3. Unqualified log: libm on the host, CUDA's on the
// device (the one source of CPU / GPU differences in the objective, at the ulp level).
BIDSIM_HD double welfare_link(const WelfareParams& w, double v1, double v2, double v3, double* grad = nullptr) {
  const double revenue = v1 * v3 + w.eps0;           // V1 × V3 + ε0
  const double roas = v2 / revenue;                  // V2 / (V1 V3 + ε0)
  const double value = w.c1 * log(v1 + w.eps1) + w.c2 * log(roas + w.eps2) + w.c3 * log(v1 * v3 + w.eps3);
  if (grad) {
    const double d_roas = w.c2 / (roas + w.eps2);
    const double d_pub = w.c3 / (v1 * v3 + w.eps3);
    grad[0] = w.c1 / (v1 + w.eps1) - d_roas * v2 * v3 / (revenue * revenue) + d_pub * v3;
    grad[1] = d_roas / revenue;
    grad[2] = -d_roas * v2 * v1 / (revenue * revenue) + d_pub * v1;
  }
  return value;
}

// Euclidean projections of §2.2.

// The simplex projection needs the largest values of x in descending order, up to the threshold θ; the
// device has no std::sort. A short array (a d_t slice of the paper game has 15 entries) is insertion-
// sorted whole, as fast as std::sort's own small-range pass; a long one (400 pairs in mesob-large, or z)
// becomes a max-heap popped only until θ is found, O(n + k log n) for k positive entries. Either way the
// values summed, and their order, are std::sort's, so the result rounds exactly as the sort-based original.
inline constexpr int kInsertionSortMax = 32;

BIDSIM_HD void insertion_sort_descending(double* x, int n) {
  for (int i = 1; i < n; ++i) {
    const double v = x[i];
    int j = i;
    for (; j > 0 && x[j - 1] < v; --j) x[j] = x[j - 1];
    x[j] = v;
  }
}

BIDSIM_HD void sift_down_max_heap(double* h, int root, int n) {
  const double x = h[root];
  while (true) {
    int child = 2 * root + 1;
    if (child >= n) break;
    if (child + 1 < n && h[child] < h[child + 1]) ++child;
    if (!(x < h[child])) break;
    h[root] = h[child];
    root = child;
  }
  h[root] = x;
}

// Onto {x ≥ 0, Σ x = radius}; `scratch` holds n doubles. Duchi et al. (2008): θ with
// Σ max(x_i − θ, 0) = radius, from the values in descending order: the first i + 1 with
// (Σ_{j≤i} x_(j) − radius) / (i + 1) ≥ x_(i+1).
BIDSIM_HD void project_simplex(double* x, int n, double radius, double* scratch) {
  for (int i = 0; i < n; ++i) scratch[i] = x[i];
  const bool heap = n > kInsertionSortMax;
  if (heap) {
    for (int i = n / 2 - 1; i >= 0; --i) sift_down_max_heap(scratch, i, n);
  } else {
    insertion_sort_descending(scratch, n);
  }
  double cumulative = 0, theta = 0;
  int heap_size = n;
  for (int i = 0; i < n; ++i) {
    double value = scratch[i];
    if (heap) {  // pop the largest; the next largest is then at the top
      value = scratch[0];
      scratch[0] = scratch[--heap_size];
      sift_down_max_heap(scratch, 0, heap_size);
    }
    cumulative += value;
    const double candidate = (cumulative - radius) / (i + 1);
    if (i + 1 == n || (heap ? scratch[0] : scratch[i + 1]) <= candidate) {
      theta = candidate;
      break;
    }
  }
  for (int i = 0; i < n; ++i) x[i] = omo_max(0.0, x[i] - theta);
}

// Onto Z = {z ≥ 0, Σ z ≤ bound}: clipping when that lands inside, else the simplex of radius `bound`.
BIDSIM_HD void project_capped_nonnegative(double* z, int n, double bound, double* scratch) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += omo_max(0.0, z[i]);
  if (total <= bound) {
    for (int i = 0; i < n; ++i) z[i] = omo_max(0.0, z[i]);
    return;
  }
  project_simplex(z, n, bound, scratch);
}

// Onto {‖y‖₂ ≤ radius}.
BIDSIM_HD void project_ball(double* y, int n, double radius) {
  double norm2 = 0;
  for (int i = 0; i < n; ++i) norm2 += y[i] * y[i];
  if (norm2 <= radius * radius) return;
  const double scale = radius / sqrt(norm2);
  for (int i = 0; i < n; ++i) y[i] *= scale;
}

// f^MESOB-OMO(y, z, d; λ1, λ2, ρ1, ρ2) of eq. (11) and its gradient (null gradients are skipped;
// all three null: terms only). See OmoObjective in mean_field.hpp for the LP-dual form of h^BR.
BIDSIM_HD OmoTerms omo_evaluate(const OmoProblem& g, const OmoWeights& w, const double* y, const double* z,
                                const double* d, double* grad_y, double* grad_z, double* grad_d,
                                const OmoWorkspace& ws) {
  const int S = g.states, A = g.actions, SA = g.pairs, T = g.slices - 1, m = g.scores;
  const double* P = g.transition;
  const double* mu0 = g.mu0;
  const AuctionView& view = g.auction;
  OmoTerms out;

  // Forward: closed forms per slice (eqs. 8-9), the metrics V_k (eq. 2), and z·d.
  for (int t = 0; t <= T; ++t) {
    const std::size_t so = static_cast<std::size_t>(t) * m, po = static_cast<std::size_t>(t) * SA;
    const ScoreScratch sc{ws.mass + so, ws.below + so, ws.win + so, ws.tie + so, ws.pay + so};
    auction_forward(view, d + po, sc);
    for (int p = 0; p < SA; ++p) {
      const PairMetrics pm = pair_metrics(view, sc, p);
      ws.ctr[po + p] = pm.ctr;
      ws.sale[po + p] = pm.sale;
      ws.cpc[po + p] = pm.cpc;
      ws.reward[po + p] = pm.reward;
      out.welfare.v1 += d[po + p] * pm.ctr;
      out.welfare.v2 += d[po + p] * pm.sale;
      out.welfare.v3 += d[po + p] * pm.cpc;
      out.complementarity += z[po + p] * d[po + p];
    }
  }
  double dF[3];
  out.welfare.value = welfare_link(g.welfare, out.welfare.v1, out.welfare.v2, out.welfare.v3, dF);

  // g^CS residuals: e_0(s) = Σ_a d_0(s,a) − μ0(s); e_{t+1}(s') = Σ_a d_{t+1}(s',a) − Σ_{s,a} d_t(s,a) P_t(s'|s,a).
  for (int t = 0; t <= T; ++t) {
    double* e = ws.consistency_res + static_cast<std::size_t>(t) * S;
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
      double q = yt[p / A] + z[po + p] + ws.reward[po + p];
      if (ynext)
        for (int s2 = 0; s2 < S; ++s2) q -= Pt[p * S + s2] * ynext[s2];
      ws.best_response_res[po + p] = q;
      out.best_response += q * q;
    }
  }

  out.objective = -w.lambda1 * out.welfare.value + w.lambda2 * out.complementarity +
                  w.rho1 * out.consistency + w.rho2 * out.best_response;
  if (!grad_y && !grad_z && !grad_d) return out;

  // ∂/∂z = λ2 d + 2 ρ2 q.
  if (grad_z)
    for (int i = 0; i < g.slices * SA; ++i) grad_z[i] = w.lambda2 * d[i] + 2 * w.rho2 * ws.best_response_res[i];

  // ∂/∂y_t(s) = 2 ρ2 [Σ_a q_t(s,a) − Σ_{s2,a} q_{t−1}(s2,a) P_{t−1}(s|s2,a)].
  if (grad_y) {
    for (int t = 0; t <= T; ++t) {
      double* gy = grad_y + static_cast<std::size_t>(t) * S;
      const double* q = ws.best_response_res + static_cast<std::size_t>(t) * SA;
      for (int s = 0; s < S; ++s) gy[s] = 0;
      for (int p = 0; p < SA; ++p) gy[p / A] += q[p];
      if (t > 0) {
        const double* qprev = ws.best_response_res + static_cast<std::size_t>(t - 1) * SA;
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
      for (int k = 0; k < m; ++k) ws.g_win[k] = 0.0;
      for (int k = 0; k < m; ++k) ws.g_tie[k] = 0.0;
      for (int k = 0; k < m; ++k) ws.g_pay[k] = 0.0;
      for (int p = 0; p < SA; ++p) {
        const double dp = d[po + p];
        pair_cotangent(view, p, -w.lambda1 * dF[0] * dp, -w.lambda1 * dF[1] * dp, -w.lambda1 * dF[2] * dp,
                       2 * w.rho2 * ws.best_response_res[po + p], ws.g_win, ws.g_tie, ws.g_pay);
      }
      const ScoreScratch sc{ws.mass + so, ws.below + so, ws.win + so, ws.tie + so, ws.pay + so};
      auction_vjp(view, sc, ws.g_win, ws.g_tie, ws.g_pay, ws.g_mass, ws.g_slice);
      const double* e = ws.consistency_res + static_cast<std::size_t>(t) * S;
      const double* enext = t < T ? ws.consistency_res + static_cast<std::size_t>(t + 1) * S : nullptr;
      const double* Pt = t < T ? P + static_cast<std::size_t>(t) * SA * S : nullptr;
      for (int p = 0; p < SA; ++p) {
        double cons = e[p / A];
        if (enext)
          for (int s2 = 0; s2 < S; ++s2) cons -= Pt[p * S + s2] * enext[s2];
        grad_d[po + p] = -w.lambda1 * (dF[0] * ws.ctr[po + p] + dF[1] * ws.sale[po + p] + dF[2] * ws.cpc[po + p]) +
                         w.lambda2 * z[po + p] + 2 * w.rho1 * cons + ws.g_slice[p];
      }
    }
  }
  return out;
}

// Terms at the current iterate (no gradient).
BIDSIM_HD OmoTerms omo_terms(const OmoProblem& p, const OmoStepConfig& c, const OmoState& s) {
  return omo_evaluate(p, c.weights, s.y, s.z, s.d, nullptr, nullptr, nullptr, s.work);
}

// Adam on one block of x with moments m, v (Kingma & Ba, bias-corrected by c1 = 1 − β1^k, c2 = 1 − β2^k).
BIDSIM_HD void omo_adam_update(double* x, const double* g, int n, double* m, double* v, double b1, double b2,
                               double c1, double c2, double lr) {
  for (int i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    x[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8);
  }
}

// Step number `count` (1-based) of projected Adam or projected gradient: the gradient at x, the update,
// then d_t onto the simplex of each time slice, z onto Z and y onto the ball (§2.2). Returns the terms
// at the point where the gradient was taken.
BIDSIM_HD OmoTerms omo_step(const OmoProblem& p, const OmoStepConfig& c, const OmoState& s, int count) {
  const OmoTerms terms = omo_evaluate(p, c.weights, s.y, s.z, s.d, s.grad_y, s.grad_z, s.grad_d, s.work);
  const int ny = p.slices * p.states, nd = p.slices * p.pairs;
  if (c.adam) {
    const double b1 = c.beta1, b2 = c.beta2;
    // Unqualified pow: libm on the host, CUDA's on the device (ulp-level differences, see above).
    const double c1 = 1 - pow(b1, static_cast<double>(count)), c2 = 1 - pow(b2, static_cast<double>(count));
    omo_adam_update(s.y, s.grad_y, ny, s.adam_m, s.adam_v, b1, b2, c1, c2, c.lr);
    omo_adam_update(s.z, s.grad_z, nd, s.adam_m + ny, s.adam_v + ny, b1, b2, c1, c2, c.lr);
    omo_adam_update(s.d, s.grad_d, nd, s.adam_m + ny + nd, s.adam_v + ny + nd, b1, b2, c1, c2, c.lr);
  } else {
    for (int i = 0; i < ny; ++i) s.y[i] -= c.lr * s.grad_y[i];
    for (int i = 0; i < nd; ++i) s.z[i] -= c.lr * s.grad_z[i];
    for (int i = 0; i < nd; ++i) s.d[i] -= c.lr * s.grad_d[i];
  }
  for (int t = 0; t < p.slices; ++t) project_simplex(s.d + static_cast<std::size_t>(t) * p.pairs, p.pairs, 1.0, s.scratch);
  project_capped_nonnegative(s.z, nd, p.z_bound, s.scratch);
  project_ball(s.y, ny, p.y_radius);
  return terms;
}

// Steps `first` + 1 .. `first` + `steps` of one configuration, stopping at its own iteration count:
// the per-thread body of the CUDA batch and of its host reference.
BIDSIM_HD void omo_advance(const OmoProblem& p, const OmoStepConfig& c, const OmoState& s, int first, int steps) {
  const int stop = first + steps < c.iterations ? first + steps : c.iterations;
  for (int k = first; k < stop; ++k) omo_step(p, c, s, k + 1);
}

}  // namespace bidsim::mesob
