// The batch state of E environments x N agents, one array per field ([env][agent] order), plus the
// per-episode market parameters. Host copy; the CUDA backend mirrors it on the device from the same
// field lists (market_fields.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "engine/core/market_fields.hpp"
#include "engine/core/money.hpp"

namespace bidsim {

// Observation vector of one agent, kObservationWidth floats, written after every step (and at reset).
enum ObservationField : int {
  kObsTimeLeft = 0,        // (T - t) / T, 1 at the first step, 1/T at the last
  kObsBudgetLeft,          // remaining budget / initial budget
  kObsLastWinRate,         // wins / impressions the agent bid on, previous step (0 at t = 0)
  kObsLastSpendShare,      // cost of the previous step / initial budget
  kObsLastValueShare,      // value won in the previous step / initial budget
  kObsLastPricePerWin,     // cost / wins in the previous step (0 without wins), money units
  kObsMeanWinRate,         // wins / impressions bid on, whole episode so far
  kObsSpendPace,           // share of budget spent / share of the episode elapsed (1 = on pace)
  kObsCategory,            // category / max(1, categories - 1), in [0, 1]
  kObsValueScale,          // the agent's value scale
  kObsBudgetLevel,         // initial budget / mean initial budget over agents
  kObsCpaTarget,           // CPA target / mean CPA target (0 when the scenario has no CPA)
  kObservationWidth
};

const char* observation_field_name(int field);

// Per-step outputs and episode totals per (env, agent), plus per-env market totals: one vector per
// field of BIDSIM_MARKET_STATE_FIELDS and BIDSIM_HOST_STATE_FIELDS (market_fields.hpp, where each
// field's type, shape and meaning are listed), [env][agent] order.
struct MarketState {
  int envs = 0, agents = 0, steps = 0;
  int step = 0;                    // next step to run, 0..T
  std::uint64_t episode = 0;       // reset counter; enters the global env index of every draw

#define BIDSIM_STATE_VECTOR(name, type, shape, zeroed) std::vector<type> name;
  BIDSIM_MARKET_STATE_FIELDS(BIDSIM_STATE_VECTOR)
  BIDSIM_HOST_STATE_FIELDS(BIDSIM_STATE_VECTOR)
#undef BIDSIM_STATE_VECTOR

  std::size_t index(int env, int agent) const {
    return static_cast<std::size_t>(env) * agents + agent;
  }

  MarketDims dims() const { return {envs, agents, steps, 0, kObservationWidth}; }

  // Calls visit(FieldInfo, &MarketState::field) for every field, in the lists' order.
  template <class Visit>
  static void for_each_field(Visit&& visit) {
#define BIDSIM_VISIT_FIELD(name, type, shape, zeroed) \
  visit(FieldInfo{#name, FieldShape::shape, zeroed}, &MarketState::name);
    BIDSIM_MARKET_STATE_FIELDS(BIDSIM_VISIT_FIELD)
    BIDSIM_HOST_STATE_FIELDS(BIDSIM_VISIT_FIELD)
#undef BIDSIM_VISIT_FIELD
  }

  // Sizes every field for E environments x N agents x T steps, all zero.
  void allocate(int E, int N, int T) {
    envs = E;
    agents = N;
    steps = T;
    const MarketDims d = dims();
    for_each_field([&](const FieldInfo& f, auto member) {
      auto& v = this->*member;
      v.assign(d.elements(f.shape), typename std::decay_t<decltype(v)>::value_type{});
    });
  }

  // Zeroes the fields that reset() does not write itself (the lists' `zeroed` column).
  void zero_for_reset() {
    for_each_field([&](const FieldInfo& f, auto member) {
      auto& v = this->*member;
      if (f.zeroed) std::fill(v.begin(), v.end(), typename std::decay_t<decltype(v)>::value_type{});
    });
  }
};

// Per-episode parameters of the AuctionNet value model.
struct AuctionNetEpisode {
  std::vector<float> mean;       // [E][T][N] pValue mean per (agent, tick)
  std::vector<float> std_dev;    // [E][T][N] pValue std per (agent, tick)
  std::vector<float> sigma_mean; // [E][N] m_a of the pValueSigma ratio
  std::vector<float> bound_lo;   // [E][N] u1: lower standardized truncation bound is -2 u1
  std::vector<float> bound_hi;   // [E][N] u2: upper bound is +2 u2
  std::vector<double> cdf_lo;    // [E][N] Φ(-2 u1)
  std::vector<double> cdf_hi;    // [E][N] Φ(+2 u2)

  // Sizes every field for E environments x N agents x T steps, all zero.
  void allocate(int E, int N, int T) {
    const std::size_t EN = static_cast<std::size_t>(E) * N;
    mean.assign(EN * T, 0.0f);
    std_dev.assign(mean.size(), 0.0f);
    for (auto* v : {&sigma_mean, &bound_lo, &bound_hi}) v->assign(EN, 0.0f);
    for (auto* v : {&cdf_lo, &cdf_hi}) v->assign(EN, 0.0);
  }
};

}  // namespace bidsim
