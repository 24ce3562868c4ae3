// The CPU backend's row-at-a-time value draws (engine/cpu/value_rows.hpp) against the per-pair functions the
// CUDA backend uses: the same bits for every input, so vectorizing the CPU market changes no result.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/core/physics.hpp"
#include "engine/cpu/value_rows.hpp"

namespace {

std::uint32_t bits_of(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// Every instruction-set variant this machine can run (value_rows.hpp); each must give the same bits.
std::vector<bidsim::RowIsa> runnable_isas() {
  std::vector<bidsim::RowIsa> isas;
  for (bidsim::RowIsa isa : {bidsim::RowIsa::baseline, bidsim::RowIsa::avx2, bidsim::RowIsa::avx512})
    if (bidsim::row_isa_supported(isa)) isas.push_back(isa);
  return isas;
}

}  // namespace

TEST_CASE("philox_row: the words of draw() for consecutive groups", "[physics][rng][value_rows]") {
  for (bidsim::RowIsa isa : runnable_isas()) {
  INFO("instruction set " << static_cast<int>(isa));
  std::mt19937_64 gen(5);
  // Group counts around the row block (64 lanes) and a dense market's typical sizes.
  for (int groups : {0, 1, 3, 12, 25, 63, 64, 65, 130, 250}) {
    const std::uint64_t seed = gen();
    const auto env = static_cast<std::uint32_t>(gen() & 0xffffff), step = static_cast<std::uint32_t>(gen() & 0xffffff);
    const auto impression = static_cast<std::uint32_t>(gen());
    for (bidsim::Purpose purpose : {bidsim::Purpose::value, bidsim::Purpose::conversion}) {
      std::vector<std::uint32_t> words(4 * static_cast<std::size_t>(groups) + 1, 0xdeadbeefu);
      bidsim::philox_row(seed, purpose, env, step, impression, groups, words.data(), isa);
      for (int g = 0; g < groups; ++g) {
        const bidsim::Draw d = bidsim::draw(seed, purpose, env, step, impression, static_cast<std::uint32_t>(g));
        for (int q = 0; q < 4; ++q) REQUIRE(words[4 * g + q] == d[q]);
      }
      CHECK(words.back() == 0xdeadbeefu);  // writes exactly 4 x groups words
    }
  }
  }
}

TEST_CASE("standard_normal_row: standard_normal's bits for every one of the 2^23 uniforms",
          "[physics][rng][value_rows]") {
  // standard_normal reads only the word's top 23 bits, so these words cover every input it can see;
  // the low bits vary to show they are ignored the same way. Row lengths are uneven so blocks end early.
  constexpr std::uint32_t kInputs = 1u << 23;
  std::vector<std::uint32_t> words(kInputs);
  for (std::uint32_t k = 0; k < kInputs; ++k) words[k] = (k << 9) | ((k * 2654435761u) & 0x1ffu);
  std::vector<float> expected(kInputs);
  std::size_t tail_lanes = 0;
  for (std::uint32_t k = 0; k < kInputs; ++k) {
    expected[k] = bidsim::standard_normal(words[k]);
    tail_lanes += std::fabs(expected[k]) > 2.7f;  // w >= 5: the tail branch, redone lane by lane
  }
  CHECK(tail_lanes > 20000);  // both branches are exercised (0.34% of the inputs are in the tail)
  for (bidsim::RowIsa isa : runnable_isas()) {
    INFO("instruction set " << static_cast<int>(isa));
    std::vector<float> normal(kInputs, std::numeric_limits<float>::quiet_NaN());
    for (std::uint32_t first = 0; first < kInputs;) {
      const int n = static_cast<int>(std::min<std::uint32_t>(kInputs - first, 48 + first % 97));
      bidsim::standard_normal_row(&words[first], n, &normal[first], isa);
      first += static_cast<std::uint32_t>(n);
    }
    std::size_t mismatches = 0;
    for (std::uint32_t k = 0; k < kInputs; ++k) mismatches += bits_of(normal[k]) != bits_of(expected[k]);
    CHECK(mismatches == 0);
  }
}

TEST_CASE("expf_row: portable_expf's bits, special values included", "[physics][value_rows]") {
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> wide(-120.0f, 100.0f), lognormal_range(-8.0f, 4.0f);
  std::vector<float> x;
  for (int k = 0; k < 200000; ++k) x.push_back(k % 2 ? wide(gen) : lognormal_range(gen));
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {0.0f, -0.0f, 1e-40f, -1e-40f, 88.7228391f, std::nextafter(88.7228391f, inf), -103.972076f,
                  std::nextafter(-103.972076f, -inf), -87.3f, -100.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN()})
    x.push_back(v);
  for (bidsim::RowIsa isa : runnable_isas()) {
    INFO("instruction set " << static_cast<int>(isa));
    std::vector<float> out(x.size());
    bidsim::expf_row(x.data(), static_cast<int>(x.size()), out.data(), isa);
    std::size_t mismatches = 0;
    for (std::size_t k = 0; k < x.size(); ++k) {
      const float expected = bidsim::portable_expf(x[k]);
      mismatches += std::isnan(expected) ? !std::isnan(out[k]) : bits_of(out[k]) != bits_of(expected);
    }
    CHECK(mismatches == 0);
    // In place, as the CPU backend calls it.
    std::vector<float> in_place(x);
    bidsim::expf_row(in_place.data(), static_cast<int>(in_place.size()), in_place.data(), isa);
    CHECK(std::memcmp(in_place.data(), out.data(), out.size() * sizeof(float)) == 0);
  }
}
