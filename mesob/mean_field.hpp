// Mean-field machinery on an AuctionGame: the flow map Γ (eq. 1), social metrics and welfare
// (eqs. 2, 3, 7), exploitability by backward induction (eq. 5), policy retrieval Π(d), and the
// MESOB-OMO objective (§2.2, eq. 11) with its exact gradient, plus the projections of §2.2.
#pragma once

#include <vector>

#include "mesob/game.hpp"

namespace bidsim::mesob {

// [T+1][S][A] arrays: population flows L, occupation measures d, policies π (rows sum to 1).
using Flow = std::vector<double>;
using Policy = std::vector<double>;

// The three social metrics (eq. 2 with Appendix A's per-pair CTR, SALE, CPC) and F (eq. 7).
struct Welfare {
  double v1 = 0;     // Σ_t Σ_{s,a} L_t(s,a) CTR(s,a,L_t): shoppers' clicks
  double v2 = 0;     // Σ L · SALE: advertisers' sales
  double v3 = 0;     // Σ L · CPC: publisher's revenue
  double value = 0;  // F(V1, V2, V3)
};

// The per-pair metrics of every slice of a flow: [T+1][S*A] each.
struct FlowMetrics {
  std::vector<double> ctr, sale, cpc, reward;
};

struct ExploitabilityResult {
  double exploitability = 0;          // Σ_s μ0(s) (V*_0(s) − V^π_0(s)), eq. (5)
  Flow flow;                          // Γ(π), the population the best response answers
  Policy best_response;               // a deterministic best response to Γ(π) (lowest index on ties)
  std::vector<double> value_policy;   // [T+1][S] V^π_t
  std::vector<double> value_best;     // [T+1][S] V*_t
};

// Evaluates closed forms slice by slice with reusable scratch (no allocation per call).
class SliceEvaluator {
 public:
  explicit SliceEvaluator(const AuctionGame& game);
  // Per-pair CTR, SALE, CPC and reward r = SALE − CPC of slice L_t ([S*A]); null outputs are skipped.
  void metrics(const double* slice, double* ctr, double* sale, double* cpc, double* reward);

 private:
  const AuctionGame& game_;
  AuctionView view_;
  std::vector<double> scratch_;
};

// Γ(π), eq. (1): L_0 = μ0 π_0, L_{t+1}(s,a) = π_{t+1}(a|s) Σ_{s',a'} L_t(s',a') P_t(s|s',a',L_t).
Flow population_flow(const AuctionGame& game, const Policy& policy);
FlowMetrics flow_metrics(const AuctionGame& game, const Flow& flow);
Welfare welfare_of(const AuctionGame& game, const Flow& flow);
// F of eq. (7) and its partial derivatives ∂F/∂V1..3.
double welfare_link(const WelfareParams& w, double v1, double v2, double v3, double* grad = nullptr);
ExploitabilityResult exploitability(const AuctionGame& game, const Policy& policy);
// Π(d): π_t(a|s) = d_{t,s,a} / Σ_a' d_{t,s,a'}, uniform where the state has no mass.
Policy retrieve_policy(const AuctionGame& game, const std::vector<double>& d);
Policy uniform_policy(const AuctionGame& game);

// Euclidean projections of §2.2.
// Onto {x ≥ 0, Σ x = radius} (sort-based; `scratch` holds n doubles).
void project_simplex(double* x, int n, double radius, double* scratch);
// Onto Z = {z ≥ 0, Σ z ≤ bound}.
void project_capped_nonnegative(double* z, int n, double bound, double* scratch);
// Onto {‖y‖₂ ≤ radius}.
void project_ball(double* y, int n, double radius);

// λ1, λ2 trade welfare against the complementarity z·d (≈ exploitability); ρ1, ρ2 penalize the
// consistency (g^CS) and best-response (h^BR) residuals.
struct OmoWeights {
  double lambda1 = 0.5, lambda2 = 0.5, rho1 = 1.0, rho2 = 0.1;
};

// The terms of f^MESOB-OMO at one point.
struct OmoTerms {
  double objective = 0;        // −λ1 V(d) + λ2 z·d + ρ1 g^CS(d) + ρ2 h^BR(y, z, d)
  Welfare welfare;             // V(d) and its metrics
  double complementarity = 0;  // z·d
  double consistency = 0;      // g^CS(d) = ‖A_d d − b‖²
  double best_response = 0;    // h^BR(y, z, d) = ‖A_d^T y + z − c_d‖²
};

// f^MESOB-OMO(y, z, d; λ1, λ2, ρ1, ρ2) and its gradient. The best-response residual is written in
// the LP-dual form of Appendix C, (A_d^T y + z − c_d)_{t,s,a} = y_t(s) − Σ_s' P_t(s'|s,a) y_{t+1}(s')
// + z_{t,s,a} + r_t(s,a,d_t) (no y_{t+1} term at t = T), with c_d = −r. The h^BR printed in §2.2 is
// the same sum of squares with y relabelled (its y_T is this y_0, its y_t is −y_{t+1}).
// y is [T+1][S]; z and d are [T+1][S][A]. Gradients may be null to skip them.
class OmoObjective {
 public:
  explicit OmoObjective(const AuctionGame& game);
  int y_size() const { return T1_ * S_; }
  int d_size() const { return T1_ * SA_; }
  // The z set's bound SA(T²+T+2) r_max and the y ball's radius S(T+1)(T+2) r_max / 2.
  double z_bound() const { return z_bound_; }
  double y_radius() const { return y_radius_; }

  OmoTerms evaluate(const OmoWeights& w, const double* y, const double* z, const double* d,
                    double* grad_y, double* grad_z, double* grad_d);

 private:
  const AuctionGame& game_;
  AuctionView view_;
  int S_, A_, SA_, T1_, m_;
  double z_bound_, y_radius_;
  // [T+1][m] per-score quantities kept for the VJP, then per-pair metrics and residuals.
  std::vector<double> mass_, below_, win_, tie_, pay_;
  std::vector<double> ctr_, sale_, cpc_, reward_;
  std::vector<double> consistency_res_;   // [T+1][S]
  std::vector<double> best_response_res_; // [T+1][S*A]
  std::vector<double> g_win_, g_tie_, g_pay_, g_mass_, g_slice_;
};

}  // namespace bidsim::mesob
