// Counter-based random draws (Random123 Philox4x32-10): every draw is a pure function of
// (seed, purpose, env, step, impression, agent, pass), identical on host and device in any order.
#pragma once

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <cstdint>

#include "engine/host_device.hpp"

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

// Uniform in (0, 1], never 0 (safe for log).
BIDSIM_HD float uniform01(std::uint32_t word) { return r123::u01<float>(word); }
BIDSIM_HD double uniform01_double(std::uint32_t word) { return r123::u01<double>(word); }

// Two standard normals from two words (Box-Muller).
BIDSIM_HD r123::float2 normal_pair(std::uint32_t u0, std::uint32_t u1) {
  return r123::boxmuller(u0, u1);
}

// Uniform integer in [0, n) from one word (multiply-shift, no modulo bias worth mentioning for n < 2^24).
BIDSIM_HD std::uint32_t uniform_below(std::uint32_t word, std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(word) * n) >> 32);
}

}  // namespace bidsim
