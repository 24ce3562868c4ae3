// Mean-field machinery on an AuctionGame: the flow map Γ (eq. 1), social metrics and welfare
// (eqs. 2, 3, 7), exploitability by backward induction (eq. 5), policy retrieval Π(d), and the
// MESOB-OMO objective (§2.2, eq. 11) with its exact gradient. The per-iteration math (objective,
// welfare link, projections, step) is host+device code in omo_kernel.hpp; this header wraps it.
#pragma once

#include <vector>

#include "mesob/game.hpp"
#include "mesob/omo_kernel.hpp"

namespace bidsim::mesob {

// [T+1][S][A] arrays: population flows L, occupation measures d, policies π (rows sum to 1).
using Flow = std::vector<double>;
using Policy = std::vector<double>;

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
// welfare_link (F of eq. 7 and ∂F/∂V1..3) is in omo_kernel.hpp.
ExploitabilityResult exploitability(const AuctionGame& game, const Policy& policy);
// Π(d): π_t(a|s) = d_{t,s,a} / Σ_a' d_{t,s,a'}, uniform where the state has no mass.
Policy retrieve_policy(const AuctionGame& game, const std::vector<double>& d);
Policy uniform_policy(const AuctionGame& game);

// The Euclidean projections of §2.2 (project_simplex, project_capped_nonnegative, project_ball) are
// host+device functions in omo_kernel.hpp.

// The OmoProblem view of a game (host pointers into `game`, which must outlive it).
OmoProblem omo_problem(const AuctionGame& game);

// f^MESOB-OMO(y, z, d; λ1, λ2, ρ1, ρ2) and its gradient. The best-response residual is written in
// the LP-dual form of Appendix C, (A_d^T y + z − c_d)_{t,s,a} = y_t(s) − Σ_s' P_t(s'|s,a) y_{t+1}(s')
// + z_{t,s,a} + r_t(s,a,d_t) (no y_{t+1} term at t = T), with c_d = −r. The h^BR printed in §2.2 is
// the same sum of squares with y relabelled (its y_T is this y_0, its y_t is −y_{t+1}).
// y is [T+1][S]; z and d are [T+1][S][A]. Gradients may be null to skip them.
class OmoObjective {
 public:
  explicit OmoObjective(const AuctionGame& game);
  int y_size() const { return problem_.slices * problem_.states; }
  int d_size() const { return problem_.slices * problem_.pairs; }
  // The z set's bound SA(T²+T+2) r_max and the y ball's radius S(T+1)(T+2) r_max / 2.
  double z_bound() const { return problem_.z_bound; }
  double y_radius() const { return problem_.y_radius; }
  const OmoProblem& problem() const { return problem_; }

  // omo_evaluate on this object's workspace (so not safe to call from two threads at once).
  OmoTerms evaluate(const OmoWeights& w, const double* y, const double* z, const double* d,
                    double* grad_y, double* grad_z, double* grad_d, const OmoMultipliers& mult = OmoMultipliers());

 private:
  OmoProblem problem_;
  std::vector<double> workspace_;  // omo_workspace_size doubles, carved at each call (copies stay valid)
};

}  // namespace bidsim::mesob
