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
};

// The terms of f^MESOB-OMO at one point.
struct OmoTerms {
  double objective = 0;        // −λ1 V(d) + λ2 z·d + ρ1 g^CS(d) + ρ2 h^BR(y, z, d)
  Welfare welfare;             // V(d) and its metrics
  double complementarity = 0;  // z·d
  double consistency = 0;      // g^CS(d) = ‖A_d d − b‖²
  double best_response = 0;    // h^BR(y, z, d) = ‖A_d^T y + z − c_d‖²
};

// One OMO configuration's step rule: the weights it optimizes (after effective_weights), projected
// Adam or projected gradient, and how many iterations it runs in total (a batch stops each
// configuration at its own count).
struct OmoStepConfig {
  OmoWeights weights;
  bool adam = true;              // false: plain projected gradient
  double lr = 0.01;              // step size
  double beta1 = 0.9, beta2 = 0.999;
  int iterations = 0;
};

}  // namespace bidsim::mesob
