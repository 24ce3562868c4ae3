// Plain data types of the mean-field solvers (welfare coefficients, metrics, OMO weights and terms),
// apart from the game class so host+device code (omo_kernel.hpp, cuda/) can use them without <vector>.
#pragma once

namespace bidsim::mesob {

// Coefficients of the welfare link F of eq. (7):
// F = c1 ln(V1 + ε1) + c2 ln(V2 / (V1 V3 + ε0) + ε2) + c3 ln(V1 V3 + ε3).
struct WelfareParams {
  double c1 = 1.0 / 3, c2 = 1.0 / 3, c3 = 1.0 / 3;
  double eps0 = 1e-5, eps1 = 1e-5, eps2 = 1e-5, eps3 = 1e-5;
};

// The three social metrics (eq. 2 with Appendix A's per-pair CTR, SALE, CPC) and F (eq. 7).
struct Welfare {
  double v1 = 0;     // Σ_t Σ_{s,a} L_t(s,a) CTR(s,a,L_t): shoppers' clicks
  double v2 = 0;     // Σ L · SALE: advertisers' sales
  double v3 = 0;     // Σ L · CPC: publisher's revenue
  double value = 0;  // F(V1, V2, V3)
};

// λ1, λ2 trade welfare against the complementarity z·d (≈ exploitability); ρ1, ρ2 penalize the
// consistency (g^CS) and best-response (h^BR) residuals.
struct OmoWeights {
  double lambda1 = 0.5, lambda2 = 0.5, rho1 = 1.0, rho2 = 0.1;
  // budget >= 0: the ε-constraint z·d <= budget replaces λ2 z·d, as the augmented-Lagrangian term
  // (max(0, ν + budget_rho (z·d − budget))² − ν²) / (2 budget_rho) with multiplier ν (the frontier).
  double budget = -1, budget_rho = 10;
};

// Augmented-Lagrangian multipliers of one configuration (omo_evaluate): the best-response equations
// enter as ρ2 ‖q + br_shift‖² (br_shift = μ / (2 ρ2), μ the multipliers of q = 0; null = 0), and ν is
// the multiplier of the budget constraint.
struct OmoMultipliers {
  const double* br_shift = nullptr;  // [T+1][S*A]
  double budget = 0;                 // ν >= 0
};

// The terms of f^MESOB-OMO at one point.
struct OmoTerms {
  double objective = 0;        // −λ1 V(d) + λ2 z·d + ρ1 g^CS(d) + ρ2 h^BR(y, z, d)
  Welfare welfare;             // V(d) and its metrics
  double complementarity = 0;  // z·d
  double consistency = 0;      // g^CS(d) = ‖A_d d − b‖²
  double best_response = 0;    // h^BR(y, z, d) = ‖A_d^T y + z − c_d‖²
  // Projected-gradient residual ‖x − P_X(x − ∇f(x))‖_∞ over x = (y, z, d): zero exactly at the KKT
  // points of (MESOB-OMO) on its feasible set X (filled by omo_terms / omo_step, 0 from omo_evaluate).
  double residual = 0;
  int iteration = 0;           // steps taken to reach this point (omo_terms; a tolerance may stop early)
};

// How an OMO configuration steps. adam and gradient take fixed steps of lr; armijo and mirror take a
// Barzilai-Borwein (curvature) trial step and backtrack until the non-monotone Armijo condition holds,
// armijo projecting Euclidean steps, mirror moving d by entropic mirror descent (exponentiated gradient)
// on its simplices and y, z by projected steps.
enum class OmoStepRule : int { adam = 0, gradient = 1, armijo = 2, mirror = 3 };

// One OMO configuration's step rule: the weights it optimizes (after effective_weights), projected
// Adam or projected gradient, and how many iterations it runs in total (a batch stops each
// configuration at its own count).
struct OmoStepConfig {
  OmoWeights weights;
  OmoStepRule rule = OmoStepRule::armijo;
  double lr = 0.01;              // the step (adam, gradient) or the first trial step (armijo, mirror)
  double beta1 = 0.9, beta2 = 0.999;
  int iterations = 0;
  // true: d_t(s, ·) is kept on μ_t(s) Δ(A), so A_d d = b holds exactly (Lemma 4's constraint; needs
  // state-preserving transitions, as the auction's are) and g^CS is 0; false: the paper's §2.2 form,
  // d_t on Δ(S×A) with ρ1 g^CS as a penalty.
  bool exact_consistency = true;
  double tol = 0;                // > 0: stop once the residual is <= tol
  // > 0: augmented Lagrangian. Every multiplier_every steps (or sooner, once the residual is <= tol)
  // the multipliers move, br_shift += q and ν = max(0, ν + budget_rho (z·d − budget)), so the
  // best-response equations (and the budget) hold exactly in the limit without ρ2 → ∞; the run stops
  // only when, besides the residual, ‖q‖₂ and the budget excess are <= tol too. 0: the penalty form.
  int multiplier_every = 0;
};

}  // namespace bidsim::mesob
