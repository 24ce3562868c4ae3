// Closed forms of the MESOB auction (paper §3.1, Appendix A, eqs. 8–9) and their exact
// vector-Jacobian product. Host+device: the CPU solvers and any CUDA kernel call the same code.
#pragma once

#include "engine/core/host_device.hpp"

namespace bidsim::mesob {

// Upper bound on bidders per auction n: the power tables below live on the stack.
inline constexpr int kMaxBidders = 256;

// The L-independent structure of the auction: states (CTR, per-click value v), bid levels, n, and
// the distinct scores s × a in ascending order. Pairs (s, a) are flattened as p = s * A + a.
// Pairs whose scores are equal (to 1e-12 relative) share one score index, so ties between
// different (s, a) pairs are split exactly as eq. (8) splits ties between equal pairs.
struct AuctionView {
  int states = 0, actions = 0;  // S, A
  int bidders = 2;              // n, bidders per auction (the representative and n - 1 others)
  int scores = 0;               // m distinct scores
  const double* ctr = nullptr;         // [S] click-through rate of each state
  const double* value = nullptr;       // [S] value of a click (v), per state so types can differ
  const double* bid = nullptr;         // [A] bid levels
  const double* score = nullptr;       // [m] distinct scores u_0 < u_1 < ... (ascending)
  const int* pair_score = nullptr;     // [S*A] score index of each pair
  const double* tie_coef = nullptr;    // [n] C(n-1, i) / (i + 1): share of a tie among i + 1 bidders
};

// Per-score auction quantities for one population slice L_t. λ_k is the mass of score u_k,
// Λ_k the mass strictly below it (eq. 8's λ_t(z), Λ_t(z)).
struct ScoreScratch {
  double* mass;        // [m] λ_k
  double* below;       // [m] Λ_k
  double* win;         // [m] P1 + P2: probability that a bidder with score u_k wins (ties split)
  double* tie_win;     // [m] P2: the part won in a tie (pays its own bid)
  double* solo_pay;    // [m] Σ_{j<k} P(highest other score = u_j) · u_j: expected payment of solo wins
};

// x^p with x^0 = 1 (also for x = 0), by repeated squaring; p is small (< n).
BIDSIM_HD double int_pow(double x, int p) {
  double r = 1.0;
  while (p > 0) {
    if (p & 1) r *= x;
    x *= x;
    p >>= 1;
  }
  return r;
}

// Win probabilities and solo payments per score for population slice `L` ([S*A], sums to 1).
// P1 = Λ^{n-1} (all others strictly lower, the telescoped sum of eq. 8);
// P2 = Σ_{i=1}^{n-1} C(n-1,i)/(i+1) Λ^{n-1-i} λ^i (i others tie at the top; the winner is drawn
// uniformly among the i + 1 and pays its own bid); solo wins pay the highest other score u_j.
BIDSIM_HD void auction_forward(const AuctionView& g, const double* L, ScoreScratch w) {
  const int m = g.scores, n = g.bidders, SA = g.states * g.actions;
  for (int k = 0; k < m; ++k) w.mass[k] = 0.0;
  for (int p = 0; p < SA; ++p) w.mass[g.pair_score[p]] += L[p];
  double below = 0.0, pay = 0.0;
  for (int k = 0; k < m; ++k) {
    const double lam = w.mass[k];
    w.below[k] = below;
    w.solo_pay[k] = pay;
    // Σ_i c_i Λ^{n-1-i} λ^i by Horner in λ/Λ would divide by Λ = 0; powers of λ grow instead.
    double total = 0.0, lam_pow = 1.0;
    for (int i = 0; i < n; ++i) {
      total += g.tie_coef[i] * int_pow(below, n - 1 - i) * lam_pow;
      lam_pow *= lam;
    }
    const double p1 = int_pow(below, n - 1);
    w.win[k] = total;
    w.tie_win[k] = total - p1;
    // The highest other score equals u_k with probability Φ(Λ_k + λ_k) − Φ(Λ_k), Φ(x) = x^{n-1}.
    pay += (int_pow(below + lam, n - 1) - p1) * g.score[k];
    below += lam;
  }
}

// Per-pair metrics of Appendix A from the per-score quantities:
// CTR = (P1 + P2) s, SALE = (P1 + P2) v s, CPC = solo payment + P2 a s, reward r = SALE − CPC (eq. 9).
struct PairMetrics {
  double ctr, sale, cpc, reward;
};

BIDSIM_HD PairMetrics pair_metrics(const AuctionView& g, const ScoreScratch& w, int pair) {
  const int s = pair / g.actions, a = pair % g.actions;
  const int k = g.pair_score[pair];
  const double c = g.ctr[s];
  PairMetrics out;
  out.ctr = w.win[k] * c;
  out.sale = out.ctr * g.value[s];
  out.cpc = w.solo_pay[k] + w.tie_win[k] * g.bid[a] * c;
  out.reward = out.sale - out.cpc;
  return out;
}

// Cotangents on one pair's metrics, folded into cotangents on the per-score quantities
// (win, tie_win, solo_pay) that the metrics are linear in.
BIDSIM_HD void pair_cotangent(const AuctionView& g, int pair, double g_ctr, double g_sale, double g_cpc,
                              double g_reward, double* g_win, double* g_tie, double* g_pay) {
  const int s = pair / g.actions, a = pair % g.actions;
  const int k = g.pair_score[pair];
  const double c = g.ctr[s], v = g.value[s];
  const double d_sale = g_sale + g_reward, d_cpc = g_cpc - g_reward;
  g_win[k] += c * (g_ctr + v * d_sale);
  g_tie[k] += d_cpc * g.bid[a] * c;
  g_pay[k] += d_cpc;
}

// Vector-Jacobian product of auction_forward: given cotangents on win, tie_win and solo_pay per
// score, returns ∂/∂L for every pair (pairs of one score get the same value). `g_mass` is [m]
// scratch. Exact derivative of the closed forms, O(m n):
//   ∂W_k/∂Λ_k = Σ_{i<n-1} c_i (n-1-i) Λ^{n-2-i} λ^i,  ∂W_k/∂λ_k = Σ_{i≥1} c_i i Λ^{n-1-i} λ^{i-1},
//   P2 = W − Φ(Λ), and Λ_k = Σ_{j<k} λ_j feeds every higher score; the solo payment
//   Q_k = Σ_{j<k} (Φ(Λ_{j+1}) − Φ(Λ_j)) u_j gives ∂Q_k/∂λ_i = Σ_{i≤j<k} Φ'(Λ_{j+1}) u_j − Σ_{i<j<k} Φ'(Λ_j) u_j.
BIDSIM_HD void auction_vjp(const AuctionView& g, const ScoreScratch& w, const double* g_win,
                           const double* g_tie, const double* g_pay, double* g_mass, double* g_L) {
  const int m = g.scores, n = g.bidders, SA = g.states * g.actions;
  // Walk scores from the top down, carrying suffix sums:
  //   via_below = Σ_{j>i} ∂f/∂Λ_j (W and P2 terms), pay_above = Σ_{k>j} g_pay[k] (= G_j),
  //   q_ge = Σ_{j≥i} Φ'(Λ_{j+1}) u_j G_j, q_gt = Σ_{j>i} Φ'(Λ_j) u_j G_j.
  double via_below = 0.0, pay_above = 0.0, q_ge = 0.0, q_gt = 0.0;
  for (int k = m - 1; k >= 0; --k) {
    const double lam = w.mass[k], below = w.below[k];
    double d_below = 0.0, d_lam = 0.0;
    double lam_pow = 1.0;  // λ^i
    double lam_pow_prev = 0.0;  // λ^{i-1}
    for (int i = 0; i < n; ++i) {
      if (i < n - 1) d_below += g.tie_coef[i] * (n - 1 - i) * int_pow(below, n - 2 - i) * lam_pow;
      if (i >= 1) d_lam += g.tie_coef[i] * i * int_pow(below, n - 1 - i) * lam_pow_prev;
      lam_pow_prev = lam_pow;
      lam_pow *= lam;
    }
    const double dphi_below = n >= 2 ? (n - 1) * int_pow(below, n - 2) : 0.0;
    const double dphi_next = n >= 2 ? (n - 1) * int_pow(below + lam, n - 2) : 0.0;
    // Terms of Q through λ_k: j = k contributes Φ'(Λ_{k+1}) u_k G_k to q_ge (i ≤ k).
    q_ge += dphi_next * g.score[k] * pay_above;
    const double from_pay = q_ge - q_gt;
    g_mass[k] = (g_win[k] + g_tie[k]) * d_lam + via_below + from_pay;
    // Contributions of this score's Λ_k to every lower λ_i (i < k).
    via_below += g_win[k] * d_below + g_tie[k] * (d_below - dphi_below);
    q_gt += dphi_below * g.score[k] * pay_above;
    pay_above += g_pay[k];
  }
  for (int p = 0; p < SA; ++p) g_L[p] = g_mass[g.pair_score[p]];
}

}  // namespace bidsim::mesob
