// Confidence intervals of the exploitability estimate: Student-t intervals of paired mean differences
// (common random numbers), Bonferroni-simultaneous over agents so that their maximum (eq. 15) has one.
#pragma once

#include <vector>

namespace bidsim::rl {

// Quantile of Student's t distribution with `dof` > 0 degrees of freedom at probability p in (0, 1):
// bisection on the exact CDF (regularized incomplete beta), so it holds for 1 degree of freedom as
// well as for many (where it approaches the normal quantile).
double student_t_quantile(double p, double dof);

// The t multiplier of `intervals` two-sided intervals that hold together with probability at least
// `confidence` (Bonferroni: each at 1 - (1 - confidence) / intervals).
double simultaneous_t(double confidence, int intervals, int samples);

// Mean of `samples` with its standard error and the interval mean ± multiplier · standard error.
// With fewer than two samples, or all samples equal, the standard error is what the data say:
// infinite for one sample (nothing is known about the spread), 0 for identical samples.
struct MeanInterval {
  double mean = 0, standard_error = 0, low = 0, high = 0;
  int samples = 0;
};
MeanInterval mean_interval(const std::vector<double>& samples, double multiplier);

// mean(numerator) / mean(denominator) over paired samples, with a delta-method interval at
// `confidence` (t with n - 1 degrees of freedom): var ≈ (var a - 2r cov(a,b) + r² var b) / (n b̄²).
struct RatioInterval {
  double ratio = 0, low = 0, high = 0;
};
RatioInterval ratio_interval(const std::vector<double>& numerator, const std::vector<double>& denominator,
                             double confidence);

}  // namespace bidsim::rl
