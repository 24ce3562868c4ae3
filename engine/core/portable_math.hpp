// log and exp written out in plain IEEE arithmetic (fdlibm's e_log.c / e_exp.c), host+device.
// Why: glibc's logf/expf and CUDA's differ in the last bit on some inputs, so values drawn by the
// CPU and CUDA backends would differ by an ulp and, rarely, flip an auction. These use only +, -, *,
// / and bit operations, so with FMA contraction off (g++ -ffp-contract=off in engine/CMakeLists.txt;
// nvcc --fmad=false in cuda/CMakeLists.txt) both backends compute the same bits. Accuracy: < 1 ulp in double; the
// float versions round the double result, so they are correctly rounded except in rare near-ties.
#pragma once

#include <cstdint>
#include <cmath>
#include <cstring>

#include "engine/core/host_device.hpp"

namespace bidsim {
namespace portable_detail {

BIDSIM_HD std::uint32_t high_word(double x) {
  std::uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  return static_cast<std::uint32_t>(bits >> 32);
}
BIDSIM_HD std::uint32_t low_word(double x) {
  std::uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  return static_cast<std::uint32_t>(bits);
}
BIDSIM_HD double with_high_word(double x, std::uint32_t high) {
  std::uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  bits = (bits & 0xffffffffull) | (static_cast<std::uint64_t>(high) << 32);
  double y;
  memcpy(&y, &bits, sizeof y);
  return y;
}
BIDSIM_HD double bits_to_double(std::uint64_t bits) {
  double y;
  memcpy(&y, &bits, sizeof y);
  return y;
}

}  // namespace portable_detail

// Natural logarithm (fdlibm __ieee754_log): log(0) = -inf, log(x < 0) = NaN.
BIDSIM_HD double portable_log(double x) {
  using namespace portable_detail;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
               two54 = 1.80143985094819840000e+16;
  const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
               Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
               Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
               Lg7 = 1.479819860511658591e-01;
  std::int32_t hx = static_cast<std::int32_t>(high_word(x));
  const std::uint32_t lx = low_word(x);
  std::int32_t k = 0;
  if (hx < 0x00100000) {  // x < 2^-1022: zero, negative or subnormal
    if (((hx & 0x7fffffff) | static_cast<std::int32_t>(lx)) == 0)
      return -bits_to_double(0x7ff0000000000000ull);  // -inf
    if (hx < 0) return bits_to_double(0x7ff8000000000000ull);  // NaN
    k -= 54;
    x *= two54;
    hx = static_cast<std::int32_t>(high_word(x));
  }
  if (hx >= 0x7ff00000) return x + x;  // inf or NaN
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const std::int32_t i0 = (hx + 0x95f64) & 0x100000;
  x = with_high_word(x, static_cast<std::uint32_t>(hx | (i0 ^ 0x3ff00000)));  // x or x/2 in [sqrt(2)/2, sqrt(2))
  k += i0 >> 20;
  const double f = x - 1.0;
  if ((0x000fffff & (2 + hx)) < 3) {  // |f| < 2^-20
    if (f == 0.0) {
      if (k == 0) return 0.0;
      const double dk = k;
      return dk * ln2_hi + dk * ln2_lo;
    }
    const double R = f * f * (0.5 - 0.33333333333333333 * f);
    if (k == 0) return f - R;
    const double dk = k;
    return dk * ln2_hi - ((R - dk * ln2_lo) - f);
  }
  const double s = f / (2.0 + f);
  const double dk = k;
  const double z = s * s;
  std::int32_t i = hx - 0x6147a;
  const double w = z * z;
  const std::int32_t j = 0x6b851 - hx;
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  i |= j;
  const double R = t2 + t1;
  if (i > 0) {
    const double hfsq = 0.5 * f * f;
    if (k == 0) return f - (hfsq - s * (hfsq + R));
    return dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
  }
  if (k == 0) return f - s * (f - R);
  return dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
}

// Exponential (fdlibm __ieee754_exp): overflows to +inf above 709.78, underflows to 0 below -745.13.
BIDSIM_HD double portable_exp(double x) {
  using namespace portable_detail;
  const double o_threshold = 7.09782712893383973096e+02, u_threshold = -7.45133219101941108420e+02;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
               inv_ln2 = 1.44269504088896338700e+00, twom1000 = 9.33263618503218878990e-302;
  const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
               P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
               P5 = 4.13813679705723846039e-08;
  std::uint32_t hx = high_word(x);
  const int negative = static_cast<int>((hx >> 31) & 1u);
  hx &= 0x7fffffffu;
  if (hx >= 0x40862E42u) {  // |x| >= 709.78, or not finite
    if (hx >= 0x7ff00000u) {
      if (((hx & 0xfffffu) | low_word(x)) != 0) return x + x;  // NaN
      return negative ? 0.0 : x;                                // exp(+-inf) = inf, 0
    }
    if (x > o_threshold) return bits_to_double(0x7ff0000000000000ull);
    if (x < u_threshold) return 0.0;
  }
  double hi = 0.0, lo = 0.0;
  int k = 0;
  if (hx > 0x3fd62e42u) {  // |x| > 0.5 ln2: reduce to x - k ln2
    if (hx < 0x3FF0A2B2u) {  // and |x| < 1.5 ln2
      hi = negative ? x + ln2_hi : x - ln2_hi;
      lo = negative ? -ln2_lo : ln2_lo;
      k = negative ? -1 : 1;
    } else {
      k = static_cast<int>(inv_ln2 * x + (negative ? -0.5 : 0.5));
      const double t = k;
      hi = x - t * ln2_hi;  // t * ln2_hi is exact here
      lo = t * ln2_lo;
    }
    x = hi - lo;
  } else if (hx < 0x3e300000u) {  // |x| < 2^-28
    return 1.0 + x;
  }
  const double t = x * x;
  const double c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  const double y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) return with_high_word(y, high_word(y) + (static_cast<std::uint32_t>(k) << 20));
  return with_high_word(y, high_word(y) + (static_cast<std::uint32_t>(k + 1000) << 20)) * twom1000;
}

// Single-precision log and exp in float arithmetic only (Cephes logf/expf: range reduction by the
// exponent bits, then a minimax polynomial), about 1 ulp. They sit on the hot path (every value draw
// takes one log and, lognormal, one exp), where going through the double versions above cost 1.7x
// in market throughput; being plain + - * and bit operations, they are as portable.
BIDSIM_HD float portable_bits_to_float(std::uint32_t bits) {
  float y;
  memcpy(&y, &bits, sizeof y);
  return y;
}

namespace portable_detail {
// log(x) = k ln 2 + log(c_i) + log1p(z / c_i - 1) with x = 2^k z, z in [0.699, 1.398) split into 16
// subintervals by the top mantissa bits; c_i is each subinterval's midpoint (exactly 1 for the one
// holding 1, so r is exact near x = 1). Rows {1/c_i, log(c_i)}, generated in double and written in hex
// so host and device read the same bits. The device copy lives in constant memory.
#define BIDSIM_PORTABLE_LOG_TABLE \
  { \
    {0x1.661ec6a5122f9p+0, -0x1.57bf753c8d1fbp-2}, \
    {0x1.571ed3c506b3ap+0, -0x1.2bef07cdc9354p-2}, \
    {0x1.49539e3b2d067p+0, -0x1.01eae5626c691p-2}, \
    {0x1.3c995a47babe7p+0, -0x1.b31d8575bce3dp-3}, \
    {0x1.30d190130d190p+0, -0x1.6574ebe8c133ap-3}, \
    {0x1.25e22708092f1p+0, -0x1.1aa2b7e23f72ap-3}, \
    {0x1.1bb4a4046ed29p+0, -0x1.a4e7640b1bc38p-4}, \
    {0x1.12358e75d3033p+0, -0x1.1973bd1465567p-4}, \
    {0x1.0953f39010954p+0, -0x1.252f32f8d183fp-5}, \
    {0x1.0000000000000p+0, 0x0.0p+0}, \
    {0x1.e573ac901e574p-1, 0x1.b42dd711971bfp-5}, \
    {0x1.ca4b3055ee191p-1, 0x1.c5e548f5bc743p-4}, \
    {0x1.b2036406c80d9p-1, 0x1.526e5e3a1b438p-3}, \
    {0x1.9c2d14ee4a102p-1, 0x1.bc286742d8cd6p-3}, \
    {0x1.886e5f0abb04ap-1, 0x1.1058bf9ae4ad5p-2}, \
    {0x1.767dce434a9b1p-1, 0x1.404308686a7e4p-2}, \
  }
#if defined(__CUDACC__)
static __constant__ double log_table_device[16][2] = BIDSIM_PORTABLE_LOG_TABLE;
#endif
static constexpr double log_table_host[16][2] = BIDSIM_PORTABLE_LOG_TABLE;
#undef BIDSIM_PORTABLE_LOG_TABLE

BIDSIM_HD const double* log_table_row(int i) {
#if defined(__CUDA_ARCH__)
  return log_table_device[i];
#else
  return log_table_host[i];
#endif
}
}  // namespace portable_detail

namespace portable_detail {
// portable_logf's argument reduction of a positive, normal, finite float (its bits): x = 2^k z with z in
// [0.699, 1.398), and `row`, the table row of z's subinterval. Split out so the CPU backend's row
// loops (value_rows.cpp) can look the table up separately and vectorize the rest.
struct LogfReduced {
  float z;
  int k;
  int row;
};
BIDSIM_HD LogfReduced logf_reduce(std::uint32_t bits) {
  const std::uint32_t offset = bits - 0x3f330000u;
  return {portable_bits_to_float(bits - (offset & 0xff800000u)), static_cast<std::int32_t>(offset) >> 23,
          static_cast<int>((offset >> 19) & 15u)};
}
// log(2^k z) from the reduction and its table row {1/c, log(c)}.
BIDSIM_HD float logf_from_reduced(float z, int k, double inv_c, double log_c) {
  const double r = static_cast<double>(z) * inv_c - 1.0;  // |r| < 0.031
  const double head = log_c + static_cast<double>(k) * 6.93147180559945286227e-01;
  // log1p(r) by its Taylor series to r^5: the first term left out, r^6/6, is below 2^-50 relative.
  const double tail = r * r * (-0.5 + r * (1.0 / 3.0 + r * (-0.25 + r * 0.2)));
  return static_cast<float>(head + (r + tail));
}
}  // namespace portable_detail

// log(0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, NaN stays NaN; subnormals are scaled first.
// Table-driven in double (the structure of Arm's optimized-routines logf): within 0.51 ulp of the
// exact log, and as fast as glibc's logf on the value draws' hot path (3.3 ns against 2.8 ns).
BIDSIM_HD float portable_logf(float x) {
  std::uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  int k_adjust = 0;
  if (bits - 0x00800000u >= 0x7f800000u - 0x00800000u) {  // not a positive, normal, finite number
    if (bits == 0x7f800000u) return x;                                                // +inf
    if ((bits & 0x7fffffffu) == 0) return -portable_bits_to_float(0x7f800000u);      // ±0
    if (bits >= 0x7f800000u) return portable_bits_to_float(0x7fc00000u);             // x < 0 or NaN
    x *= 33554432.0f;  // positive subnormal: scale by 2^25 into the normal range
    memcpy(&bits, &x, sizeof bits);
    k_adjust = -25;
  }
  const portable_detail::LogfReduced reduced = portable_detail::logf_reduce(bits);
  const double* row = portable_detail::log_table_row(reduced.row);
  return portable_detail::logf_from_reduced(reduced.z, reduced.k + k_adjust, row[0], row[1]);
}

namespace portable_detail {
// 2^(j/32), j = 0..31, in hex so host and device read the same bits; the device copy is in constant memory.
#define BIDSIM_PORTABLE_EXP2_TABLE \
  { \
    0x1.0000000000000p+0, \
    0x1.059b0d3158574p+0, \
    0x1.0b5586cf9890fp+0, \
    0x1.11301d0125b51p+0, \
    0x1.172b83c7d517bp+0, \
    0x1.1d4873168b9aap+0, \
    0x1.2387a6e756238p+0, \
    0x1.29e9df51fdee1p+0, \
    0x1.306fe0a31b715p+0, \
    0x1.371a7373aa9cbp+0, \
    0x1.3dea64c123422p+0, \
    0x1.44e086061892dp+0, \
    0x1.4bfdad5362a27p+0, \
    0x1.5342b569d4f82p+0, \
    0x1.5ab07dd485429p+0, \
    0x1.6247eb03a5585p+0, \
    0x1.6a09e667f3bcdp+0, \
    0x1.71f75e8ec5f74p+0, \
    0x1.7a11473eb0187p+0, \
    0x1.82589994cce13p+0, \
    0x1.8ace5422aa0dbp+0, \
    0x1.93737b0cdc5e5p+0, \
    0x1.9c49182a3f090p+0, \
    0x1.a5503b23e255dp+0, \
    0x1.ae89f995ad3adp+0, \
    0x1.b7f76f2fb5e47p+0, \
    0x1.c199bdd85529cp+0, \
    0x1.cb720dcef9069p+0, \
    0x1.d5818dcfba487p+0, \
    0x1.dfc97337b9b5fp+0, \
    0x1.ea4afa2a490dap+0, \
    0x1.f50765b6e4540p+0, \
  }
#if defined(__CUDACC__)
static __constant__ double exp2_table_device[32] = BIDSIM_PORTABLE_EXP2_TABLE;
#endif
static constexpr double exp2_table_host[32] = BIDSIM_PORTABLE_EXP2_TABLE;
#undef BIDSIM_PORTABLE_EXP2_TABLE

BIDSIM_HD double exp2_table(int j) {
#if defined(__CUDA_ARCH__)
  return exp2_table_device[j];
#else
  return exp2_table_host[j];
#endif
}
}  // namespace portable_detail

namespace portable_detail {
// portable_expf's argument reduction of x in [-103.97, 88.72]: x = (32 m + j) ln 2 / 32 + t with
// k = 32 m + j = round(32 x / ln 2) and |t| <= ln 2 / 64; the table entry is exp2_table(k & 31).
// Split out, like logf_reduce, for the CPU backend's vectorized row loops.
// False for NaN. `&`, not `&&`: no branch, so row loops over it vectorize.
BIDSIM_HD bool expf_reducible(float x) { return (x >= -103.972076f) & (x <= 88.7228391f); }
struct ExpfReduced {
  double t;
  std::int32_t k;
};
BIDSIM_HD ExpfReduced expf_reduce(float x) {
  const double z = static_cast<double>(x) * (32.0 / 0.69314718055994530942);
  const double shifted = z + 0x1.8p52;  // adding 1.5 * 2^52 rounds z to an integer held in the low bits
  std::uint64_t k_bits;
  memcpy(&k_bits, &shifted, sizeof k_bits);
  const double t = (z - (shifted - 0x1.8p52)) * (0.69314718055994530942 / 32.0);
  return {t, static_cast<std::int32_t>(static_cast<std::uint32_t>(k_bits))};
}
// exp(x) = 2^(k div 32) · base · exp(t), base = 2^((k mod 32) / 32) from the table.
BIDSIM_HD float expf_from_reduced(double t, std::int32_t k, double base) {
  const double p = 1.0 + t * (1.0 + t * (0.5 + t * (1.0 / 6.0 + t * (1.0 / 24.0))));
  std::uint64_t scale_bits;
  memcpy(&scale_bits, &base, sizeof scale_bits);
  scale_bits += static_cast<std::uint64_t>(static_cast<std::int64_t>(k >> 5)) << 52;  // × 2^(k div 32)
  double scale;
  memcpy(&scale, &scale_bits, sizeof scale);
  return static_cast<float>(scale * p);
}
}  // namespace portable_detail

// exp(x): 0 below -103.97 (through the float subnormals), +inf above 88.72, NaN stays NaN.
// Table-driven in double: exp(x) = 2^(k/32) · exp(t) with k = round(32 x / ln 2) and |t| <= ln 2 / 64,
// exp(t) by its Taylor series to t^4 (next term below 2^-39 relative). Within 0.50 ulp; 2.4 ns against
// glibc's 1.7 ns on the lognormal value draws.
BIDSIM_HD float portable_expf(float x) {
  if (!(x == x)) return x;
  if (x > 88.7228391f) return portable_bits_to_float(0x7f800000u);
  if (x < -103.972076f) return 0.0f;
  const portable_detail::ExpfReduced reduced = portable_detail::expf_reduce(x);
  return portable_detail::expf_from_reduced(reduced.t, reduced.k, portable_detail::exp2_table(reduced.k & 31));
}

}  // namespace bidsim
