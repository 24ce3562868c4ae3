// Counter-based random draws (Random123 Philox4x32-10): every draw is a pure function of
// (seed, purpose, env, step, impression, agent, pass), identical on host and device in any order.
#pragma once

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <cstdint>

#include "engine/core/host_device.hpp"
#include "engine/core/portable_math.hpp"

namespace bidsim {

// What a draw is for. Distinct purposes never share a counter, so adding a draw never shifts another.
enum class Purpose : std::uint32_t {
  value = 1,           // per (impression, agent) value noise
  tie = 2,             // tie-break key of equal bids
  exposure = 3,        // per (impression, slot) exposure
  conversion = 4,      // per (impression, agent) conversion draw
  candidate = 5,       // sparse candidate sampling per (impression, k)
  impression_category = 6,
  drop = 7,            // AuctionNet overspend rule: which wins are dropped, per pass
  episode = 8,         // per-episode market parameters (traffic jitter, value factors)
  agent_setup = 9,     // per-agent scenario constants drawn at load time
  mean_field = 10,     // mesob: the heuristic's simulated auctions and the bridge's action draws
};

using Philox = r123::Philox4x32;
using Draw = Philox::ctr_type;  // four independent 32-bit words

// `env` is the global environment index (episode × E + e); it and `step` must stay below 2^24.
BIDSIM_HD Draw draw(std::uint64_t seed, Purpose purpose, std::uint32_t env, std::uint32_t step,
                    std::uint32_t impression, std::uint32_t agent, std::uint32_t pass = 0) {
  const Philox::key_type key = {{static_cast<std::uint32_t>(seed),
                                 static_cast<std::uint32_t>(seed >> 32)}};
  const Philox::ctr_type ctr = {{impression, agent, (step << 8) | (pass & 0xffu),
                                 (env << 8) | static_cast<std::uint32_t>(purpose)}};
  return Philox()(ctr, key);
}

// Word `which` (0..3) of a draw by selects, not by indexing: a runtime index would put the draw in
// a GPU thread's local memory.
BIDSIM_HD std::uint32_t draw_word(const Draw& d, int which) {
  return which == 0 ? d[0] : which == 1 ? d[1] : which == 2 ? d[2] : d[3];
}

// Uniform in (0, 1], never 0 (safe for log).
BIDSIM_HD float uniform01(std::uint32_t word) { return r123::u01<float>(word); }
BIDSIM_HD double uniform01_double(std::uint32_t word) { return r123::u01<double>(word); }

// Two standard normals from two words (Box-Muller).
BIDSIM_HD r123::float2 normal_pair(std::uint32_t u0, std::uint32_t u1) {
  return r123::boxmuller(u0, u1);
}

// Uniform strictly inside (0, 1): (k + 0.5) / 2^23 for the top 23 bits k, exact in float (24
// significant bits), so u never rounds to 0 or 1 and 2u - 1 is exact.
BIDSIM_HD float uniform_open24(std::uint32_t word) {
  return (static_cast<float>(word >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

// Giles' single-precision erfinv ("Approximating the erfinv function", GPU Computing Gems, 2011) as a
// polynomial in w = -log((1 - x)(1 + x)): the central branch (w < 5, all but 0.34% of the draws) and
// the tail branch. Separate functions so the CPU backend's row loop (value_rows.cpp) can run the
// central one over a whole row and redo only the rare tail lanes.
BIDSIM_HD float erfinv_central_polynomial(float w) {
  w = w - 2.5f;
  float p = 2.81022636e-08f;
  p = 3.43273939e-07f + p * w;
  p = -3.5233877e-06f + p * w;
  p = -4.39150654e-06f + p * w;
  p = 0.00021858087f + p * w;
  p = -0.00125372503f + p * w;
  p = -0.00417768164f + p * w;
  p = 0.246640727f + p * w;
  return 1.50140941f + p * w;
}
BIDSIM_HD float erfinv_tail_polynomial(float w) {
  w = sqrtf(w) - 3.0f;
  float p = -0.000200214257f;
  p = 0.000100950558f + p * w;
  p = 0.00134934322f + p * w;
  p = -0.00367342844f + p * w;
  p = 0.00573950773f + p * w;
  p = -0.0076224613f + p * w;
  p = 0.00943887047f + p * w;
  p = 1.00167406f + p * w;
  return 2.83297682f + p * w;
}

// Standard normal from ONE word by inversion: z = sqrt(2) erfinv(2u - 1). One log instead of
// Box-Muller's log + sqrt + sincos, and one word instead of two, so a Philox call serves four draws.
// The log is portable_logf so host and device draw the same bits (portable_math.hpp).
BIDSIM_HD float standard_normal(std::uint32_t word) {
  const float u = uniform_open24(word);
  const float x = 2.0f * u - 1.0f;
  const float w = -portable_logf(4.0f * u * (1.0f - u));  // = -log((1 - x)(1 + x)) without cancellation
  const float p = w < 5.0f ? erfinv_central_polynomial(w) : erfinv_tail_polynomial(w);
  return 1.41421356237309505f * p * x;
}

// The value-noise word of (impression, agent): one Philox call covers four consecutive agents, so a
// dense market draws N/4 times per impression. Both backends must use this layout.
BIDSIM_HD std::uint32_t value_word(std::uint64_t seed, std::uint32_t env, std::uint32_t step,
                                   std::uint32_t impression, std::uint32_t agent);

// Uniform integer in [0, n) from one word (multiply-shift, no modulo bias worth mentioning for n < 2^24).
BIDSIM_HD std::uint32_t uniform_below(std::uint32_t word, std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(word) * n) >> 32);
}

BIDSIM_HD std::uint32_t value_word(std::uint64_t seed, std::uint32_t env, std::uint32_t step,
                                   std::uint32_t impression, std::uint32_t agent) {
  return draw(seed, Purpose::value, env, step, impression, agent >> 2)[agent & 3u];
}

}  // namespace bidsim
