// Row-at-a-time value draws (value_rows.hpp). Each function works in blocks of kBlock lanes: a lane loop
// the compiler vectorizes (SSE2 on any x86-64), the table look-ups in a scalar loop of their own (x86-64
// has no gather before AVX2, and GCC's generic tuning does not use AVX2's), and the rare lanes that
// need another branch (the erfinv tail, exp's overflow and underflow) redone by the scalar function.
#include "engine/cpu/value_rows.hpp"

#include <algorithm>

#include "engine/core/portable_math.hpp"

// x86-64 with GCC or Clang: AVX2 and AVX-512 variants chosen at run time; elsewhere the baseline only.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BIDSIM_X86_ROW_VARIANTS 1
#else
#define BIDSIM_X86_ROW_VARIANTS 0
#endif

namespace bidsim {
namespace {

constexpr int kBlock = 64;  // lanes per block: the block's temporaries stay in L1

// The bodies are inlined into one function per instruction set (below), each compiled for it.
#define BIDSIM_ROW_BODY inline __attribute__((always_inline))

BIDSIM_ROW_BODY void philox_row_body(std::uint64_t seed, Purpose purpose, std::uint32_t env, std::uint32_t step,
                                     std::uint32_t impression, int groups, std::uint32_t* words) {
  // The counter layout of draw() (pass 0): {impression, group, step << 8, env << 8 | purpose}.
  const std::uint32_t key0 = static_cast<std::uint32_t>(seed), key1 = static_cast<std::uint32_t>(seed >> 32);
  const std::uint32_t step_word = step << 8, env_word = (env << 8) | static_cast<std::uint32_t>(purpose);
  for (int first = 0; first < groups; first += kBlock) {
    const int lanes = std::min(kBlock, groups - first);
    const int vector_lanes = (lanes + 7) & ~7;  // whole vectors, no scalar remainder loop
    std::uint32_t c0[kBlock], c1[kBlock], c2[kBlock], c3[kBlock];
    for (int l = 0; l < vector_lanes; ++l) {
      c0[l] = impression;
      c1[l] = static_cast<std::uint32_t>(first + l);
      c2[l] = step_word;
      c3[l] = env_word;
    }
    // Philox4x32-10 (Random123's round and key schedule): the first round uses the key as given.
    std::uint32_t k0 = key0, k1 = key1;
    for (int round = 0; round < 10; ++round) {
      for (int l = 0; l < vector_lanes; ++l) {
        const std::uint64_t product0 = std::uint64_t{0xD2511F53u} * c0[l];
        const std::uint64_t product1 = std::uint64_t{0xCD9E8D57u} * c2[l];
        const std::uint32_t next0 = static_cast<std::uint32_t>(product1 >> 32) ^ c1[l] ^ k0;
        const std::uint32_t next2 = static_cast<std::uint32_t>(product0 >> 32) ^ c3[l] ^ k1;
        c1[l] = static_cast<std::uint32_t>(product1);
        c3[l] = static_cast<std::uint32_t>(product0);
        c0[l] = next0;
        c2[l] = next2;
      }
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    for (int l = 0; l < lanes; ++l) {
      std::uint32_t* out = words + 4 * static_cast<std::size_t>(first + l);
      out[0] = c0[l];
      out[1] = c1[l];
      out[2] = c2[l];
      out[3] = c3[l];
    }
  }
}

BIDSIM_ROW_BODY void standard_normal_row_body(const std::uint32_t* words, int n, float* normal) {
  for (int first = 0; first < n; first += kBlock) {
    const int lanes = std::min(kBlock, n - first);
    const std::uint32_t* word = words + first;
    float x[kBlock], reduced_z[kBlock];
    int reduced_k[kBlock], row[kBlock];
    double inv_c[kBlock], log_c[kBlock];
    float w[kBlock];
    // standard_normal's steps up to the log's table look-up. 4u(1 - u) lies in [2^-22, 1]: always a
    // positive normal float, so portable_logf's special cases never apply.
    for (int l = 0; l < lanes; ++l) {
      const float u = uniform_open24(word[l]);
      x[l] = 2.0f * u - 1.0f;
      const float argument = 4.0f * u * (1.0f - u);
      std::uint32_t bits;
      memcpy(&bits, &argument, sizeof bits);
      const portable_detail::LogfReduced r = portable_detail::logf_reduce(bits);
      reduced_z[l] = r.z;
      reduced_k[l] = r.k;
      row[l] = r.row;
    }
    for (int l = 0; l < lanes; ++l) {
      const double* table_row = portable_detail::log_table_row(row[l]);
      inv_c[l] = table_row[0];
      log_c[l] = table_row[1];
    }
    int tail_lanes = 0;  // an int, not a bool: a byte-wide reduction keeps GCC from vectorizing the doubles
    float* out = normal + first;
    for (int l = 0; l < lanes; ++l) {
      w[l] = -portable_detail::logf_from_reduced(reduced_z[l], reduced_k[l], inv_c[l], log_c[l]);
      tail_lanes += !(w[l] < 5.0f);
      out[l] = 1.41421356237309505f * erfinv_central_polynomial(w[l]) * x[l];
    }
    if (tail_lanes > 0)  // about one block in six at 48 lanes: redo its few tail lanes one by one
      for (int l = 0; l < lanes; ++l)
        if (!(w[l] < 5.0f)) out[l] = standard_normal(word[l]);
  }
}

BIDSIM_ROW_BODY void expf_row_body(const float* x, int n, float* out) {
  for (int first = 0; first < n; first += kBlock) {
    const int lanes = std::min(kBlock, n - first);
    const float* in = x + first;
    double t[kBlock], base[kBlock];
    std::int32_t k[kBlock];
    int special_lanes = 0;
    // portable_expf's reduction; a lane outside its finite range (or NaN) gets garbage here, but a
    // table index in range (k & 31), and is redone by portable_expf below.
    for (int l = 0; l < lanes; ++l) {
      special_lanes += !portable_detail::expf_reducible(in[l]);
      const portable_detail::ExpfReduced r = portable_detail::expf_reduce(in[l]);
      t[l] = r.t;
      k[l] = r.k;
    }
    for (int l = 0; l < lanes; ++l) base[l] = portable_detail::exp2_table(k[l] & 31);
    float result[kBlock];
    for (int l = 0; l < lanes; ++l) result[l] = portable_detail::expf_from_reduced(t[l], k[l], base[l]);
    if (special_lanes > 0)
      for (int l = 0; l < lanes; ++l)
        if (!portable_detail::expf_reducible(in[l])) result[l] = portable_expf(in[l]);
    std::copy(result, result + lanes, out + first);
  }
}

#undef BIDSIM_ROW_BODY

// One function per instruction set and row operation. IEEE operations round the same in every vector
// width, and -std=c++17 turns off FMA contraction (host_device.hpp), so every variant gives the bits
// of the per-pair functions; tests/test_value_rows.cpp checks each variant the machine can run.
#define BIDSIM_ROW_VARIANTS(suffix, attribute)                                                              \
  attribute void philox_row_##suffix(std::uint64_t seed, Purpose purpose, std::uint32_t env, std::uint32_t step, \
                                     std::uint32_t impression, int groups, std::uint32_t* words) {            \
    philox_row_body(seed, purpose, env, step, impression, groups, words);                                  \
  }                                                                                                         \
  attribute void standard_normal_row_##suffix(const std::uint32_t* words, int n, float* normal) {            \
    standard_normal_row_body(words, n, normal);                                                            \
  }                                                                                                         \
  attribute void expf_row_##suffix(const float* x, int n, float* out) { expf_row_body(x, n, out); }

BIDSIM_ROW_VARIANTS(baseline, )
#if BIDSIM_X86_ROW_VARIANTS
BIDSIM_ROW_VARIANTS(avx2, __attribute__((target("arch=x86-64-v3"))))
BIDSIM_ROW_VARIANTS(avx512, __attribute__((target("arch=x86-64-v4"))))
#endif
#undef BIDSIM_ROW_VARIANTS

}  // namespace

bool row_isa_supported(RowIsa isa) {
  switch (isa) {
    case RowIsa::baseline: return true;
#if BIDSIM_X86_ROW_VARIANTS
    case RowIsa::avx2: return __builtin_cpu_supports("x86-64-v3");
    case RowIsa::avx512: return __builtin_cpu_supports("x86-64-v4");
#else
    case RowIsa::avx2:
    case RowIsa::avx512: return false;
#endif
  }
  return false;
}

RowIsa best_row_isa() {
  static const RowIsa best = row_isa_supported(RowIsa::avx512) ? RowIsa::avx512
                             : row_isa_supported(RowIsa::avx2) ? RowIsa::avx2
                                                               : RowIsa::baseline;
  return best;
}

namespace {

// The three row functions compiled for one instruction set.
struct RowFunctions {
  decltype(&philox_row_baseline) philox;
  decltype(&standard_normal_row_baseline) standard_normal;
  decltype(&expf_row_baseline) expf;
};

const RowFunctions& row_functions(RowIsa isa) {
  static const RowFunctions baseline{philox_row_baseline, standard_normal_row_baseline, expf_row_baseline};
#if BIDSIM_X86_ROW_VARIANTS
  static const RowFunctions avx2{philox_row_avx2, standard_normal_row_avx2, expf_row_avx2};
  static const RowFunctions avx512{philox_row_avx512, standard_normal_row_avx512, expf_row_avx512};
  if (isa == RowIsa::avx512) return avx512;
  if (isa == RowIsa::avx2) return avx2;
#endif
  (void)isa;
  return baseline;
}

}  // namespace

void philox_row(std::uint64_t seed, Purpose purpose, std::uint32_t env, std::uint32_t step, std::uint32_t impression,
                int groups, std::uint32_t* words, RowIsa isa) {
  row_functions(isa).philox(seed, purpose, env, step, impression, groups, words);
}

void standard_normal_row(const std::uint32_t* words, int n, float* normal, RowIsa isa) {
  row_functions(isa).standard_normal(words, n, normal);
}

void expf_row(const float* x, int n, float* out, RowIsa isa) { row_functions(isa).expf(x, n, out); }

}  // namespace bidsim
