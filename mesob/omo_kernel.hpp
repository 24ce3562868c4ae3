// One MESOB-OMO iteration written once for host and device (paper §2.2, eq. 11): the objective with its
// exact gradient, the projections, and the projected Adam / gradient step, on raw pointers with no
// allocation, so OmoObjective / the CPU solvers and the CUDA batch (cuda/mesob_batch.cu) run the same code.
#pragma once

#include <cmath>
#include <cstddef>

#include "engine/core/host_device.hpp"
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
  // Every P_t(·|s, a) is the point mass on s (the auction's transitions, §3.1): state masses stay μ0.
  bool state_preserving = false;
};

// Scratch of omo_evaluate, carved from one double buffer of omo_workspace_size doubles.
struct OmoWorkspace {
  // [T+1][m] per-score quantities of each slice, kept for the VJP.
  double *mass, *below, *win, *tie, *pay;
  // [T+1][S*A] per-pair metrics of each slice.
  double *ctr, *sale, *cpc, *reward;
  double* consistency_res;    // [T+1][S] e_t of g^CS
  double* best_response_res;  // [T+1][S*A] q_t of h^BR
  // [T+1][m] cotangents of each slice's per-score quantities, and [T+1][S*A] each slice's ∂/∂L (one
  // set per slice, so the slices' auction VJPs run on different lanes).
  double *g_win, *g_tie, *g_pay, *g_mass, *g_slice;
  double* summands;  // [T+1][S*A] the terms of one of the objective's sums (lane_sum)
};

BIDSIM_HD std::size_t omo_workspace_size(const OmoProblem& p) {
  const std::size_t T1 = p.slices, m = p.scores, SA = p.pairs;
  return 9 * T1 * m + 7 * T1 * SA + T1 * p.states;
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
  w.g_tie = w.g_win + T1 * m;
  w.g_pay = w.g_tie + T1 * m;
  w.g_mass = w.g_pay + T1 * m;
  w.g_slice = w.g_mass + T1 * m;
  w.summands = w.g_slice + T1 * SA;
  return w;
}

// Slice t's per-score quantities in the workspace.
BIDSIM_HD ScoreScratch omo_slice_scores(const OmoWorkspace& ws, std::size_t t, int scores) {
  const std::size_t o = t * static_cast<std::size_t>(scores);
  return ScoreScratch{ws.mass + o, ws.below + o, ws.win + o, ws.tie + o, ws.pay + o};
}

// One configuration's iterate x = (y, z, d) (contiguous, nx = |y| + 2|d| doubles), its gradient, Adam
// moments, the buffers of the line-searched rules and scratch: one contiguous block of omo_state_size
// doubles (the CUDA batch keeps B such blocks, one per warp).
struct OmoState {
  double *y, *z, *d;                // [T+1][S], [T+1][S*A], [T+1][S*A]
  double *grad_y, *grad_z, *grad_d;  // same shapes
  double *adam_m, *adam_v;          // [nx] first / second moments in (y, z, d) order
  double* base;                     // [nx] x at the start of a line search
  double *prev_x, *prev_grad;       // [nx] the previous accepted x and its gradient (Barzilai-Borwein)
  double* probe;                    // [nx] x − ∇f projected, for the residual
  double* info;                     // [kOmoInfoSize] step bookkeeping (the kOmoInfo* slots)
  double* br_shift;                 // [|d|] augmented-Lagrangian shift of the best-response residual
  double* scratch;                  // [max(|d|, S*A)] projection scratch
  OmoWorkspace work;
};

// Slots of OmoState::info. The step history kept for the non-monotone Armijo test is the last
// kOmoNonmonotoneMemory accepted objective values.
inline constexpr int kOmoNonmonotoneMemory = 10;
inline constexpr int kOmoInfoStep = 0;       // the last accepted step (0 before the first)
inline constexpr int kOmoInfoResidual = 1;   // residual at the last gradient evaluation
inline constexpr int kOmoInfoStopped = 2;    // 1 once the residual reached the tolerance
inline constexpr int kOmoInfoSteps = 3;      // steps taken
inline constexpr int kOmoInfoBudget = 4;     // ν, the budget constraint's multiplier
inline constexpr int kOmoInfoSince = 5;      // steps when the objective last changed (multiplier update)
inline constexpr int kOmoInfoPenaltyScale = 6;  // log10 of the factor on ρ2 and budget_rho (0 at start)
inline constexpr int kOmoInfoViolation = 7;  // constraint violation at the last multiplier update
inline constexpr int kOmoInfoHistory = 8;    // [kOmoNonmonotoneMemory] recent objective values
inline constexpr int kOmoInfoSize = kOmoInfoHistory + kOmoNonmonotoneMemory;

BIDSIM_HD std::size_t omo_x_size(const OmoProblem& p) {
  return static_cast<std::size_t>(p.slices) * (p.states + 2 * static_cast<std::size_t>(p.pairs));
}

BIDSIM_HD std::size_t omo_state_size(const OmoProblem& p) {
  const std::size_t nd = static_cast<std::size_t>(p.slices) * p.pairs, nx = omo_x_size(p);
  const std::size_t scratch = nd > static_cast<std::size_t>(p.pairs) ? nd : p.pairs;
  // x, its gradient, two Adam moments, base, prev_x, prev_grad, probe; br_shift
  return 8 * nx + kOmoInfoSize + nd + scratch + omo_workspace_size(p);
}

BIDSIM_HD OmoState omo_state(const OmoProblem& p, double* buf) {
  const std::size_t ny = static_cast<std::size_t>(p.slices) * p.states, nd = static_cast<std::size_t>(p.slices) * p.pairs;
  const std::size_t nx = ny + 2 * nd;
  const std::size_t scratch = nd > static_cast<std::size_t>(p.pairs) ? nd : p.pairs;
  OmoState s;
  s.y = buf;
  s.z = s.y + ny;
  s.d = s.z + nd;
  s.grad_y = s.d + nd;
  s.grad_z = s.grad_y + ny;
  s.grad_d = s.grad_z + nd;
  s.adam_m = s.grad_d + nd;
  s.adam_v = s.adam_m + nx;
  s.base = s.adam_v + nx;
  s.prev_x = s.base + nx;
  s.prev_grad = s.prev_x + nx;
  s.probe = s.prev_grad + nx;
  s.info = s.probe + nx;
  s.br_shift = s.info + kOmoInfoSize;
  s.scratch = s.br_shift + nd;
  s.work = omo_workspace(p, s.scratch + scratch);
  return s;
}

// ---- How one configuration's vector work is split (docs/gpu-design.md, item 5) ---------------------
// Every loop of the step over a configuration's vectors goes through a lane policy: the CUDA batch
// runs one warp per configuration (WarpLanes in cuda/mesob_batch.cu: lane l takes the indices
// i ≡ l mod 32), the CPU runs SerialLanes below (one thread takes every index in turn). The two
// compute every value in the same order of operations, so CPU and device results are identical by
// construction (and equal to the serial code this replaced):
//  * each(n, f): f(i) for every i < n; an f(i) writes only index i's own outputs and reads what
//    earlier phases wrote (the warp synchronizes after the loop). each2(rows, cols, f): the same
//    over i = row · cols + col, f(row, col, i) (the CPU walks it as two loops, without a division).
//  * sum(n, buffer, f): f(0) + f(1) + … + f(n−1) from 0, left to right, the same value on every lane.
//    Floating-point sums depend on their order, and the solvers' line searches and stopping tests
//    compare objective values at the rounding level, so the sums keep the serial order: the warp
//    computes the summands on all lanes into `buffer` (n doubles) and adds them on lane 0; the CPU
//    adds each as it is computed (the same additions, so the same bits). sum2 is sum over each2's
//    indices.
//  * max_of(n, f): the largest f(i) by omo_max, as lane partials folded by a fixed tree. Unlike a
//    sum this is exact in any order: omo_max(acc, NaN) keeps acc, so NaNs are skipped in every order,
//    and the values compared are ≥ 0 (no signed zeros), so it equals the serial loop bit for bit.
//  * leader(): the one lane that writes a scalar every lane computed (sync() before and after).
inline constexpr int kOmoLanes = 32;

// max(a, b) as std::max(a, b) computes it ((a < b) ? b : a), so NaN and signed zeros come out as before.
BIDSIM_HD double omo_max(double a, double b) { return (a < b) ? b : a; }

// The CPU's lane policy: every index in turn, on one thread.
struct SerialLanes {
  BIDSIM_HD bool leader() const { return true; }
  BIDSIM_HD void sync() const {}
  template <class F>
  BIDSIM_HD void each(std::size_t n, F&& f) const {
    for (std::size_t i = 0; i < n; ++i) f(i);
  }
  template <class F>
  BIDSIM_HD void each2(std::size_t rows, std::size_t cols, F&& f) const {
    for (std::size_t r = 0, i = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c, ++i) f(r, c, i);
  }
  template <class F>
  BIDSIM_HD double sum(std::size_t n, double* /*buffer*/, F&& f) const {
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) total += f(i);
    return total;
  }
  template <class F>
  BIDSIM_HD double sum2(std::size_t rows, std::size_t cols, double* /*buffer*/, F&& f) const {
    double total = 0;
    for (std::size_t r = 0, i = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c, ++i) total += f(r, c, i);
    return total;
  }
  template <class F>
  BIDSIM_HD double max_of(std::size_t n, F&& f) const {
    double r = 0;
    for (std::size_t i = 0; i < n; ++i) r = omo_max(r, f(i));
    return r;
  }
};

// Σ_{i<n} f(i) in serial order (`buffer`: n doubles of scratch for the warp's summands).
template <class Lanes, class F>
BIDSIM_HD double lane_sum(const Lanes& lanes, std::size_t n, double* buffer, F&& f) {
  return lanes.sum(n, buffer, f);
}

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

// Onto Z = {z ≥ 0, Σ z ≤ bound}: clipping when that lands inside, else the simplex of radius `bound`
// (that rare case on the leader lane alone: the heap-based simplex projection is one serial pass).
// `scratch` holds n doubles.
template <class Lanes>
BIDSIM_HD void project_capped_nonnegative(const Lanes& lanes, double* z, std::size_t n, double bound, double* scratch) {
  const double total = lane_sum(lanes, n, scratch, [&](std::size_t i) { return omo_max(0.0, z[i]); });
  if (total <= bound) {
    lanes.each(n, [&](std::size_t i) { z[i] = omo_max(0.0, z[i]); });
    return;
  }
  lanes.sync();
  if (lanes.leader()) project_simplex(z, static_cast<int>(n), bound, scratch);
  lanes.sync();
}

// Onto {‖y‖₂ ≤ radius}; `scratch` holds n doubles.
template <class Lanes>
BIDSIM_HD void project_ball(const Lanes& lanes, double* y, std::size_t n, double radius, double* scratch) {
  const double norm2 = lane_sum(lanes, n, scratch, [&](std::size_t i) { return y[i] * y[i]; });
  if (norm2 <= radius * radius) return;
  const double scale = radius / sqrt(norm2);
  lanes.each(n, [&](std::size_t i) { y[i] *= scale; });
}

// The one-thread forms (the projection tests call these), the same loops without the lanes.
BIDSIM_HD void project_capped_nonnegative(double* z, int n, double bound, double* scratch) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += omo_max(0.0, z[i]);
  if (total <= bound) {
    for (int i = 0; i < n; ++i) z[i] = omo_max(0.0, z[i]);
    return;
  }
  project_simplex(z, n, bound, scratch);
}
BIDSIM_HD void project_ball(double* y, int n, double radius) {
  double norm2 = 0;
  for (int i = 0; i < n; ++i) norm2 += y[i] * y[i];
  if (norm2 <= radius * radius) return;
  const double scale = radius / sqrt(norm2);
  for (int i = 0; i < n; ++i) y[i] *= scale;
}

// f^MESOB-OMO(y, z, d; λ1, λ2, ρ1, ρ2) of eq. (11) and its gradient (null gradients are skipped;
// all three null: terms only). See OmoObjective in mean_field.hpp for the LP-dual form of h^BR.
// Work split: the auction's closed forms and their VJP one slice per lane (each is a short serial
// recursion over the scores); every per-pair, per-state and per-entry quantity one index per lane,
// computed in the order the serial code used; the six scalar sums (V1..V3, z·d, ‖e‖², ‖q‖²) in the
// lanes' blocked order.
template <class Lanes>
BIDSIM_HD OmoTerms omo_evaluate(const Lanes& lanes, const OmoProblem& g, const OmoWeights& w, const double* y,
                                const double* z, const double* d, double* grad_y, double* grad_z, double* grad_d,
                                const OmoWorkspace& ws, const OmoMultipliers& mult = OmoMultipliers()) {
  const int S = g.states, A = g.actions, SA = g.pairs, T = g.slices - 1, m = g.scores;
  const std::size_t T1 = g.slices, nd = T1 * SA, ny = T1 * S;
  const double* P = g.transition;
  const double* mu0 = g.mu0;
  const AuctionView& view = g.auction;
  OmoTerms out;

  // Forward: closed forms per slice (eqs. 8-9), the metrics V_k (eq. 2), and z·d.
  lanes.each(T1, [&](std::size_t t) { auction_forward(view, d + t * SA, omo_slice_scores(ws, t, m)); });
  lanes.each2(T1, SA, [&](std::size_t t, std::size_t p, std::size_t i) {
    const PairMetrics pm = pair_metrics(view, omo_slice_scores(ws, t, m), static_cast<int>(p));
    ws.ctr[i] = pm.ctr;
    ws.sale[i] = pm.sale;
    ws.cpc[i] = pm.cpc;
    ws.reward[i] = pm.reward;
  });
  out.welfare.v1 = lane_sum(lanes, nd, ws.summands, [&](std::size_t i) { return d[i] * ws.ctr[i]; });
  out.welfare.v2 = lane_sum(lanes, nd, ws.summands, [&](std::size_t i) { return d[i] * ws.sale[i]; });
  out.welfare.v3 = lane_sum(lanes, nd, ws.summands, [&](std::size_t i) { return d[i] * ws.cpc[i]; });
  out.complementarity = lane_sum(lanes, nd, ws.summands, [&](std::size_t i) { return z[i] * d[i]; });
  double dF[3];
  out.welfare.value = welfare_link(g.welfare, out.welfare.v1, out.welfare.v2, out.welfare.v3, dF);

  // g^CS residuals: e_0(s) = Σ_a d_0(s,a) − μ0(s); e_{t+1}(s') = Σ_a d_{t+1}(s',a) − Σ_{s,a} d_t(s,a) P_t(s'|s,a).
  lanes.each2(T1, S, [&](std::size_t t, std::size_t state, std::size_t i) {
    const int s = static_cast<int>(state);
    const double* dt = d + t * SA;
    double row = 0;
    for (int a = 0; a < A; ++a) row += dt[s * A + a];
    double e = row - (t == 0 ? mu0[s] : 0.0);
    if (t > 0) {
      const double* prev = d + (t - 1) * SA;
      const double* Pt = P + (t - 1) * SA * S;
      for (int p = 0; p < SA; ++p) e -= prev[p] * Pt[p * S + s];
    }
    ws.consistency_res[i] = e;
  });
  out.consistency = lane_sum(lanes, ny, ws.summands, [&](std::size_t i) { return ws.consistency_res[i] * ws.consistency_res[i]; });

  // h^BR residuals q_t(s,a) = y_t(s) − Σ_s' P_t(s'|s,a) y_{t+1}(s') + z_t(s,a) + r_t(s,a). The terms report
  // ‖q‖²; the objective and gradient use q + br_shift (the augmented Lagrangian; the shift is 0 without).
  out.best_response = lanes.sum2(T1, SA, ws.summands, [&](std::size_t t, std::size_t pair, std::size_t i) {
    const int p = static_cast<int>(pair);
    double q = y[t * S + p / A] + z[i] + ws.reward[i];
    if (static_cast<int>(t) < T) {
      const double* ynext = y + (t + 1) * S;
      const double* Pt = P + t * SA * S;
      for (int s2 = 0; s2 < S; ++s2) q -= Pt[p * S + s2] * ynext[s2];
    }
    const double unshifted = q * q;
    if (mult.br_shift) q += mult.br_shift[i];
    ws.best_response_res[i] = q;
    return unshifted;
  });
  const double shifted_best_response =
      lane_sum(lanes, nd, ws.summands, [&](std::size_t i) { return ws.best_response_res[i] * ws.best_response_res[i]; });

  // The complementarity's weight: λ2, or with a budget the augmented-Lagrangian slope max(0, ν + ρ_b c).
  double lambda2 = w.lambda2, complementarity_term = w.lambda2 * out.complementarity;
  if (w.budget >= 0) {
    lambda2 = omo_max(0.0, mult.budget + w.budget_rho * (out.complementarity - w.budget));
    complementarity_term = (lambda2 * lambda2 - mult.budget * mult.budget) / (2 * w.budget_rho);
  }
  out.objective = -w.lambda1 * out.welfare.value + complementarity_term + w.rho1 * out.consistency +
                  w.rho2 * shifted_best_response;
  if (!grad_y && !grad_z && !grad_d) return out;

  // ∂/∂z = λ2 d + 2 ρ2 q.
  if (grad_z)
    lanes.each(nd, [&](std::size_t i) { grad_z[i] = lambda2 * d[i] + 2 * w.rho2 * ws.best_response_res[i]; });

  // ∂/∂y_t(s) = 2 ρ2 [Σ_a q_t(s,a) − Σ_{s2,a} q_{t−1}(s2,a) P_{t−1}(s|s2,a)].
  if (grad_y) {
    lanes.each2(T1, S, [&](std::size_t t, std::size_t state, std::size_t i) {
      const int s = static_cast<int>(state);
      const double* q = ws.best_response_res + t * SA;
      double gy = 0;
      for (int a = 0; a < A; ++a) gy += q[s * A + a];
      if (t > 0) {
        const double* qprev = ws.best_response_res + (t - 1) * SA;
        const double* Pt = P + (t - 1) * SA * S;
        for (int p = 0; p < SA; ++p) gy -= qprev[p] * Pt[p * S + s];
      }
      grad_y[i] = gy * (2 * w.rho2);
    });
  }

  // ∂/∂d_t = −λ1 Σ_k ∂F/∂V_k (m_k + J_k^T d_t) + λ2 z_t + 2ρ1 (e_t(s) − Σ_s' P_t(s'|s,a) e_{t+1}(s'))
  //          + 2ρ2 J_r^T q_t, with the J^T products from one auction VJP per slice (one slice per lane:
  //          the pairs' cotangents land on shared score entries, so a slice is folded by one lane).
  if (grad_d) {
    lanes.each(T1, [&](std::size_t t) {
      const std::size_t so = t * m, po = t * SA;
      double *g_win = ws.g_win + so, *g_tie = ws.g_tie + so, *g_pay = ws.g_pay + so;
      for (int k = 0; k < m; ++k) g_win[k] = 0.0;
      for (int k = 0; k < m; ++k) g_tie[k] = 0.0;
      for (int k = 0; k < m; ++k) g_pay[k] = 0.0;
      for (int p = 0; p < SA; ++p) {
        const double dp = d[po + p];
        pair_cotangent(view, p, -w.lambda1 * dF[0] * dp, -w.lambda1 * dF[1] * dp, -w.lambda1 * dF[2] * dp,
                       2 * w.rho2 * ws.best_response_res[po + p], g_win, g_tie, g_pay);
      }
      auction_vjp(view, omo_slice_scores(ws, t, m), g_win, g_tie, g_pay, ws.g_mass + so, ws.g_slice + po);
    });
    lanes.each2(T1, SA, [&](std::size_t t, std::size_t pair, std::size_t i) {
      const int p = static_cast<int>(pair);
      double cons = ws.consistency_res[t * S + p / A];
      if (static_cast<int>(t) < T) {
        const double* enext = ws.consistency_res + (t + 1) * S;
        const double* Pt = P + t * SA * S;
        for (int s2 = 0; s2 < S; ++s2) cons -= Pt[p * S + s2] * enext[s2];
      }
      grad_d[i] = -w.lambda1 * (dF[0] * ws.ctr[i] + dF[1] * ws.sale[i] + dF[2] * ws.cpc[i]) + lambda2 * z[i] +
                  2 * w.rho1 * cons + ws.g_slice[i];
    });
  }
  return out;
}

// Whether d is kept consistent by projection: asked for, and the transitions keep state masses
// (then μ_t = μ0 for every t and the consistent set is the product of the simplices μ0(s) Δ(A)).
BIDSIM_HD bool omo_exact_rows(const OmoProblem& p, const OmoStepConfig& c) {
  return c.exact_consistency && p.state_preserving;
}

// x onto the feasible set X of (MESOB-OMO): d onto its simplices (rows μ0(s) Δ(A) when exact, else each
// slice onto Δ(S×A)), z onto Z, y onto the ball (§2.2). x is laid out as OmoState's (y, z, d). One simplex
// per lane, each with its own stretch of `scratch` (|d| doubles).
template <class Lanes>
BIDSIM_HD void omo_project(const Lanes& lanes, const OmoProblem& p, const OmoStepConfig& c, double* x, double* scratch) {
  const std::size_t ny = static_cast<std::size_t>(p.slices) * p.states, nd = static_cast<std::size_t>(p.slices) * p.pairs;
  double *y = x, *z = x + ny, *d = x + ny + nd;
  if (omo_exact_rows(p, c)) {
    const std::size_t A = p.actions;
    lanes.each(ny, [&](std::size_t row) {
      project_simplex(d + row * A, p.actions, p.mu0[row % p.states], scratch + row * A);
    });
  } else {
    const std::size_t SA = p.pairs;
    lanes.each(p.slices, [&](std::size_t t) { project_simplex(d + t * SA, p.pairs, 1.0, scratch + t * SA); });
  }
  project_capped_nonnegative(lanes, z, nd, p.z_bound, scratch);
  project_ball(lanes, y, ny, p.y_radius, scratch);
}

// The projected-gradient residual ‖x − P_X(x − g)‖_∞ at x with gradient g (uses s.probe).
template <class Lanes>
BIDSIM_HD double omo_residual(const Lanes& lanes, const OmoProblem& p, const OmoStepConfig& c, const OmoState& s) {
  const std::size_t nx = omo_x_size(p);
  lanes.each(nx, [&](std::size_t i) { s.probe[i] = s.y[i] - s.grad_y[i]; });
  omo_project(lanes, p, c, s.probe, s.scratch);
  return lanes.max_of(nx, [&](std::size_t i) { return fabs(s.y[i] - s.probe[i]); });
}

// info[slot] = value, written once for every lane (each lane computed the same value): the first sync
// lets every lane finish reading the slot's old value, the second publishes the new one.
template <class Lanes>
BIDSIM_HD void omo_set_info(const Lanes& lanes, const OmoState& s, int slot, double value) {
  lanes.sync();
  if (lanes.leader()) s.info[slot] = value;
  lanes.sync();
}

// The weights the configuration currently minimizes with: its own, with ρ2 and budget_rho grown by the
// augmented Lagrangian's penalty scale (10^kOmoInfoPenaltyScale; 1 without multipliers).
BIDSIM_HD OmoWeights omo_weights(const OmoStepConfig& c, const OmoState& s) {
  OmoWeights w = c.weights;
  const double scale = pow(10.0, s.info[kOmoInfoPenaltyScale]);
  w.rho2 *= scale;
  w.budget_rho *= scale;
  return w;
}

// The configuration's current multipliers (none unless it runs the augmented Lagrangian).
BIDSIM_HD OmoMultipliers omo_multipliers(const OmoStepConfig& c, const OmoState& s) {
  OmoMultipliers m;
  if (c.multiplier_every > 0) m.br_shift = s.br_shift;
  m.budget = s.info[kOmoInfoBudget];
  return m;
}

// Terms and residual at the current iterate (evaluates the gradient into s.grad_*, which the next step
// recomputes anyway), and the steps taken so far.
template <class Lanes>
BIDSIM_HD OmoTerms omo_terms(const Lanes& lanes, const OmoProblem& p, const OmoStepConfig& c, const OmoState& s) {
  OmoTerms t = omo_evaluate(lanes, p, omo_weights(c, s), s.y, s.z, s.d, s.grad_y, s.grad_z, s.grad_d, s.work,
                            omo_multipliers(c, s));
  t.residual = omo_residual(lanes, p, c, s);
  t.iteration = static_cast<int>(s.info[kOmoInfoSteps]);
  return t;
}

// Adam on x with moments m, v (Kingma & Ba, bias-corrected by c1 = 1 − β1^k, c2 = 1 − β2^k).
template <class Lanes>
BIDSIM_HD void omo_adam_update(const Lanes& lanes, double* x, const double* g, std::size_t n, double* m, double* v,
                               double b1, double b2, double c1, double c2, double lr) {
  lanes.each(n, [&](std::size_t i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    x[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8);
  });
}

// Entropic mirror descent of d from `base` with step `step`: on each simplex (a row μ0(s) Δ(A) when exact,
// else a slice Δ(S×A)) d_i ∝ base_i exp(−step g_i), rescaled to the simplex's mass (exponents shifted by
// their minimum so nothing overflows; an entry at 0 stays at 0). One simplex per lane.
template <class Lanes>
BIDSIM_HD void omo_mirror_d(const Lanes& lanes, const OmoProblem& p, const OmoStepConfig& c, const double* base,
                            const double* g, double step, double* d) {
  const bool rows = omo_exact_rows(p, c);
  const int width = rows ? p.actions : p.pairs;
  const std::size_t groups = static_cast<std::size_t>(p.slices) * (rows ? p.states : 1);
  lanes.each(groups, [&](std::size_t k) {
    const std::size_t o = k * width;
    const double mass = rows ? p.mu0[k % p.states] : 1.0;
    double lowest = g[o];
    for (int i = 1; i < width; ++i) lowest = g[o + i] < lowest ? g[o + i] : lowest;
    double total = 0;
    for (int i = 0; i < width; ++i) total += d[o + i] = base[o + i] * exp(-step * (g[o + i] - lowest));
    if (total > 0) {
      for (int i = 0; i < width; ++i) d[o + i] *= mass / total;
    } else {
      for (int i = 0; i < width; ++i) d[o + i] = mass / width;
    }
  });
}

// The Barzilai-Borwein step s·s / s·Δg between the previous accepted point and x (the curvature of f
// along the last step), clamped to [1e-12, 1e12]; `fallback` when there is no previous point or the
// curvature is not positive. The sums' summands go through s.probe (free between residuals).
template <class Lanes>
BIDSIM_HD double omo_bb_step(const Lanes& lanes, const OmoState& s, std::size_t nx, double fallback) {
  if (s.info[kOmoInfoStep] <= 0) return fallback;
  const double ss = lane_sum(lanes, nx, s.probe, [&](std::size_t i) {
    const double dx = s.y[i] - s.prev_x[i];
    return dx * dx;
  });
  const double sy =
      lane_sum(lanes, nx, s.probe, [&](std::size_t i) { return (s.y[i] - s.prev_x[i]) * (s.grad_y[i] - s.prev_grad[i]); });
  if (!(sy > 0) || !(ss > 0)) return fallback;
  const double step = ss / sy;
  return step < 1e-12 ? 1e-12 : (step > 1e12 ? 1e12 : step);
}

inline constexpr double kArmijoSufficientDecrease = 1e-4;  // σ of the Armijo test
inline constexpr int kArmijoMaxBacktracks = 60;            // halvings before giving up on a step

// Whether the constraints the augmented Lagrangian enforces hold to `tol` at the evaluated point:
// ‖q‖₂ <= tol and, with a budget, z·d <= budget + tol.
BIDSIM_HD bool omo_feasible(const OmoStepConfig& c, const OmoTerms& t, double tol) {
  if (c.multiplier_every <= 0) return true;
  return t.best_response <= tol * tol && (c.weights.budget < 0 || t.complementarity <= c.weights.budget + tol);
}

// Penalty growth of the augmented Lagrangian: when an update finds the violation above
// kOmoPenaltyProgress times the previous one, ρ2 and budget_rho grow tenfold (up to 10^kOmoMaxPenaltyScale).
inline constexpr double kOmoPenaltyProgress = 0.25;
inline constexpr double kOmoMaxPenaltyScale = 6;

// The augmented-Lagrangian update at the current x (Nocedal & Wright, Algorithm 17.4): multipliers
// μ += 2ρ2 q (br_shift = μ / 2ρ2 gets += q; the evaluation leaves q + br_shift in the workspace) and
// ν = max(0, ν + budget_rho (z·d − budget)); then the penalty grows if the violation did not fall
// enough. The objective changes, so the non-monotone window and the Barzilai-Borwein memory restart.
template <class Lanes>
BIDSIM_HD void omo_update_multipliers(const Lanes& lanes, const OmoProblem& p, const OmoStepConfig& c, const OmoState& s,
                                      bool solved) {
  const OmoWeights w = omo_weights(c, s);
  const OmoTerms t =
      omo_evaluate(lanes, p, w, s.y, s.z, s.d, nullptr, nullptr, nullptr, s.work, omo_multipliers(c, s));
  const std::size_t nd = static_cast<std::size_t>(p.slices) * p.pairs;
  lanes.each(nd, [&](std::size_t i) { s.br_shift[i] = s.work.best_response_res[i]; });
  double violation = sqrt(t.best_response);
  if (c.weights.budget >= 0) {
    omo_set_info(lanes, s, kOmoInfoBudget,
                 omo_max(0.0, s.info[kOmoInfoBudget] + w.budget_rho * (t.complementarity - c.weights.budget)));
    violation += omo_max(0.0, t.complementarity - c.weights.budget);
  }
  // Only an update at a solved inner problem judges progress (one after a fixed number of steps may
  // just not have converged yet, and a larger penalty would only slow it down).
  const double previous = s.info[kOmoInfoViolation];
  if (solved) {
    if (previous > 0 && violation > kOmoPenaltyProgress * previous && s.info[kOmoInfoPenaltyScale] < kOmoMaxPenaltyScale) {
      omo_set_info(lanes, s, kOmoInfoPenaltyScale, s.info[kOmoInfoPenaltyScale] + 1);
      lanes.each(nd, [&](std::size_t i) { s.br_shift[i] *= 0.1; });  // μ stays: shift = μ / 2ρ2
    }
    omo_set_info(lanes, s, kOmoInfoViolation, violation);
  }
  omo_set_info(lanes, s, kOmoInfoSince, s.info[kOmoInfoSteps]);
  omo_set_info(lanes, s, kOmoInfoStep, 0);
}

// Step number `count` (1-based) of x = (y, z, d). Evaluates f and ∇f at x and the residual there; with a
// tolerance reached, marks the configuration stopped and leaves x. Otherwise:
//  * adam / gradient: x − lr · (Adam direction | ∇f), then the projections of §2.2;
//  * armijo: x(α) = P_X(x − α ∇f), mirror: d by omo_mirror_d and (y, z) projected, with α from the
//    Barzilai-Borwein step, halved until f(x(α)) ≤ max(last kOmoNonmonotoneMemory f) + σ ∇f·(x(α) − x)
//    (non-monotone Armijo, Grippo et al. 1986; converges to KKT points of f on X). A step that finds no
//    decrease in kArmijoMaxBacktracks halvings leaves x where it was.
// Returns the terms (with the residual) at the point where the gradient was taken. Every lane computes
// the same scalars (reductions end equal on every lane), so every lane takes the same branches.
template <class Lanes>
BIDSIM_HD OmoTerms omo_step(const Lanes& lanes, const OmoProblem& p, const OmoStepConfig& c, const OmoState& s, int count) {
  OmoTerms terms = omo_evaluate(lanes, p, omo_weights(c, s), s.y, s.z, s.d, s.grad_y, s.grad_z, s.grad_d, s.work,
                                omo_multipliers(c, s));
  terms.residual = omo_residual(lanes, p, c, s);
  terms.iteration = static_cast<int>(s.info[kOmoInfoSteps]);
  omo_set_info(lanes, s, kOmoInfoResidual, terms.residual);
  const bool stationary = c.tol > 0 && terms.residual <= c.tol;
  if (stationary && omo_feasible(c, terms, c.tol)) {
    omo_set_info(lanes, s, kOmoInfoStopped, 1);
    return terms;
  }
  omo_set_info(lanes, s, kOmoInfoSteps, s.info[kOmoInfoSteps] + 1);
  const int steps = static_cast<int>(s.info[kOmoInfoSteps]);
  if (c.multiplier_every > 0 && (stationary || steps % c.multiplier_every == 0)) {
    // The inner problem is solved (or its budget of steps is spent): move the multipliers; this step
    // then starts on the new objective.
    omo_update_multipliers(lanes, p, c, s, stationary);
    terms = omo_evaluate(lanes, p, omo_weights(c, s), s.y, s.z, s.d, s.grad_y, s.grad_z, s.grad_d, s.work,
                         omo_multipliers(c, s));
    terms.residual = s.info[kOmoInfoResidual];
    terms.iteration = steps - 1;
  }
  const std::size_t ny = static_cast<std::size_t>(p.slices) * p.states, nd = static_cast<std::size_t>(p.slices) * p.pairs;
  const std::size_t nx = ny + 2 * nd;
  if (c.rule == OmoStepRule::adam) {
    const double b1 = c.beta1, b2 = c.beta2;
    // Unqualified pow: libm on the host, CUDA's on the device (ulp-level differences, see above).
    const double c1 = 1 - pow(b1, static_cast<double>(count)), c2 = 1 - pow(b2, static_cast<double>(count));
    omo_adam_update(lanes, s.y, s.grad_y, nx, s.adam_m, s.adam_v, b1, b2, c1, c2, c.lr);
    omo_project(lanes, p, c, s.y, s.scratch);
    return terms;
  }
  if (c.rule == OmoStepRule::gradient) {
    lanes.each(nx, [&](std::size_t i) { s.y[i] -= c.lr * s.grad_y[i]; });
    omo_project(lanes, p, c, s.y, s.scratch);
    return terms;
  }
  // armijo / mirror: the reference value of the non-monotone test, the largest objective of the last
  // kOmoNonmonotoneMemory steps since the objective last changed.
  const double* recent = s.info + kOmoInfoHistory;
  const int taken = steps - 1;  // steps before this one
  omo_set_info(lanes, s, kOmoInfoHistory + taken % kOmoNonmonotoneMemory, terms.objective);
  const int since = taken - static_cast<int>(s.info[kOmoInfoSince]) + 1;
  const int known = since < kOmoNonmonotoneMemory ? since : kOmoNonmonotoneMemory;
  double reference = terms.objective;
  for (int i = 1; i < known; ++i) reference = omo_max(reference, recent[(taken - i) % kOmoNonmonotoneMemory]);

  double step = omo_bb_step(lanes, s, nx, c.lr);
  lanes.each(nx, [&](std::size_t i) {
    s.base[i] = s.y[i];
    s.prev_x[i] = s.y[i];
    s.prev_grad[i] = s.grad_y[i];
  });
  bool accepted = false;
  for (int k = 0; k < kArmijoMaxBacktracks && !accepted; ++k, step *= 0.5) {
    if (c.rule == OmoStepRule::mirror) {
      lanes.each(ny + nd, [&](std::size_t i) { s.y[i] = s.base[i] - step * s.grad_y[i]; });
      omo_project(lanes, p, c, s.y, s.scratch);  // projects d too; overwritten next
      omo_mirror_d(lanes, p, c, s.base + ny + nd, s.grad_d, step, s.d);
    } else {
      lanes.each(nx, [&](std::size_t i) { s.y[i] = s.base[i] - step * s.grad_y[i]; });
      omo_project(lanes, p, c, s.y, s.scratch);
    }
    const double decrease =
        lane_sum(lanes, nx, s.probe, [&](std::size_t i) { return s.grad_y[i] * (s.y[i] - s.base[i]); });
    const double value = omo_evaluate(lanes, p, omo_weights(c, s), s.y, s.z, s.d, nullptr, nullptr, nullptr, s.work,
                                      omo_multipliers(c, s))
                             .objective;
    accepted = value <= reference + kArmijoSufficientDecrease * decrease;
    if (accepted) omo_set_info(lanes, s, kOmoInfoStep, step);
  }
  if (!accepted) lanes.each(nx, [&](std::size_t i) { s.y[i] = s.base[i]; });
  return terms;
}

// Steps `first` + 1 .. `first` + `steps` of one configuration, stopping at its own iteration count or
// once its tolerance is reached: the per-warp body of the CUDA batch (WarpLanes) and of its host
// reference and the CPU solvers (SerialLanes).
template <class Lanes>
BIDSIM_HD void omo_advance(const Lanes& lanes, const OmoProblem& p, const OmoStepConfig& c, const OmoState& s, int first,
                           int steps) {
  const int stop = first + steps < c.iterations ? first + steps : c.iterations;
  for (int k = first; k < stop && s.info[kOmoInfoStopped] == 0; ++k) omo_step(lanes, p, c, s, k + 1);
}

}  // namespace bidsim::mesob
