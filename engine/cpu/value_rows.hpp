// Value draws of a whole candidate row at once, for the CPU backend's dense markets: the same Philox
// words and the same float operations as draw(), standard_normal() and portable_expf(), laid out as
// independent lane loops so the compiler vectorizes them. Results are bit-identical to the per-pair
// functions (tests/test_value_rows.cpp); the CUDA backend keeps the per-pair functions.
#pragma once

#include <cstdint>

#include "engine/core/rng.hpp"

namespace bidsim {

// The instruction sets the row functions are compiled for (x86-64: baseline SSE2, x86-64-v3 with AVX2,
// x86-64-v4 with AVX-512; elsewhere the baseline only). Every one gives the same bits.
enum class RowIsa { baseline, avx2, avx512 };
bool row_isa_supported(RowIsa isa);
RowIsa best_row_isa();  // the widest this machine runs, chosen once

// words[4 g + q] = draw(seed, purpose, env, step, impression, g)[q] for g < groups.
void philox_row(std::uint64_t seed, Purpose purpose, std::uint32_t env, std::uint32_t step,
                std::uint32_t impression, int groups, std::uint32_t* words, RowIsa isa = best_row_isa());

// normal[i] = standard_normal(words[i]) for i < n.
void standard_normal_row(const std::uint32_t* words, int n, float* normal, RowIsa isa = best_row_isa());

// out[i] = portable_expf(x[i]) for i < n (out may be x).
void expf_row(const float* x, int n, float* out, RowIsa isa = best_row_isa());

}  // namespace bidsim
