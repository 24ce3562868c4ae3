// Student-t quantiles from the regularized incomplete beta function (Lentz's continued fraction, as in
// Numerical Recipes §6.4), and the mean / ratio intervals built on them.
#include "rl/confidence.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace bidsim::rl {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Continued fraction of I_x(a, b), converging fast for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kTolerance = 1e-15;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1.0, d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0)), h = d;
  for (int m = 1; m <= 500; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2));
    d = 1.0 / guard(1.0 + aa * d);
    c = guard(1.0 + aa / c);
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2));
    d = 1.0 / guard(1.0 + aa * d);
    c = guard(1.0 + aa / c);
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1.0) < kTolerance) break;
  }
  return h;
}

double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                                b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

// P(T ≤ t) for t ≥ 0: 1 - I_{ν/(ν+t²)}(ν/2, 1/2) / 2.
double student_t_cdf_upper_half(double t, double dof) {
  return 1.0 - 0.5 * regularized_incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t));
}

double variance(const std::vector<double>& x, double mean) {
  double s = 0;
  for (double v : x) s += (v - mean) * (v - mean);
  return s / static_cast<double>(x.size() - 1);
}

double mean_of(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

}  // namespace

double student_t_quantile(double p, double dof) {
  if (!(p > 0 && p < 1) || !(dof > 0)) throw std::invalid_argument("student_t_quantile: p in (0,1), dof > 0");
  if (p < 0.5) return -student_t_quantile(1.0 - p, dof);
  if (p == 0.5) return 0.0;
  double low = 0.0, high = 1.0;
  while (student_t_cdf_upper_half(high, dof) < p) high *= 2.0;
  for (int k = 0; k < 200 && high - low > 1e-13 * high; ++k) {
    const double mid = 0.5 * (low + high);
    (student_t_cdf_upper_half(mid, dof) < p ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

double simultaneous_t(double confidence, int intervals, int samples) {
  if (samples < 2) return kInfinity;
  const double each = (1.0 - confidence) / std::max(1, intervals);
  return student_t_quantile(1.0 - each / 2.0, samples - 1);
}

MeanInterval mean_interval(const std::vector<double>& samples, double multiplier) {
  MeanInterval m;
  m.samples = static_cast<int>(samples.size());
  if (samples.empty()) {
    m.standard_error = m.high = kInfinity;
    m.low = -kInfinity;
    return m;
  }
  m.mean = mean_of(samples);
  m.standard_error = samples.size() < 2 ? kInfinity : std::sqrt(variance(samples, m.mean) / samples.size());
  // An exact zero spread gives an exact interval even when the multiplier is infinite.
  const double half = m.standard_error == 0 ? 0.0 : multiplier * m.standard_error;
  m.low = m.mean - half;
  m.high = m.mean + half;
  return m;
}

RatioInterval ratio_interval(const std::vector<double>& numerator, const std::vector<double>& denominator,
                             double confidence) {
  if (numerator.size() != denominator.size() || numerator.empty())
    throw std::invalid_argument("ratio_interval: paired samples of equal, non-zero length expected");
  RatioInterval r;
  const double a = mean_of(numerator), b = mean_of(denominator);
  const std::size_t n = numerator.size();
  if (b == 0) {
    r.ratio = r.low = r.high = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.ratio = a / b;
  if (n < 2) {
    r.low = -kInfinity;
    r.high = kInfinity;
    return r;
  }
  double cov = 0;
  for (std::size_t k = 0; k < n; ++k) cov += (numerator[k] - a) * (denominator[k] - b);
  cov /= static_cast<double>(n - 1);
  const double var = (variance(numerator, a) - 2 * r.ratio * cov + r.ratio * r.ratio * variance(denominator, b)) /
                     (static_cast<double>(n) * b * b);
  const double half = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, static_cast<double>(n - 1)) *
                      std::sqrt(std::max(0.0, var));
  r.low = r.ratio - half;
  r.high = r.ratio + half;
  return r;
}

}  // namespace bidsim::rl
