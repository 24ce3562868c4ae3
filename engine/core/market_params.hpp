// The scalar parameters of a market step, derived once from the scenario: the CPU backend and the
// CUDA kernels (MarketView::params) read the same values, so neither re-derives them on its own.
#pragma once

#include <cstdint>

#include "engine/core/config_types.hpp"
#include "engine/core/money.hpp"

namespace bidsim {

// Plain and trivially copyable: a CUDA kernel takes it by value inside MarketView.
struct MarketParams {
  std::uint64_t seed;
  int E, N, S, T;   // environments, agents, slots, steps per episode
  int C;            // candidates per impression (candidates_per_impression)
  int K;            // sparse candidates per impression; 0 unless `mode` is sparse
  int categories;   // agents.categories
  int max_passes;   // budget.max_passes of the AuctionNet overspend rule
  ValueModel model;
  CandidateMode mode;  // dense for file values (their rows are the candidates), else candidates.mode
  ProceduralDistribution distribution;
  RewardKind reward;
  OverspendRule overspend;
  bool within_category;     // candidates.within_category
  bool needs_category;      // impressions draw a category (categories > 1 and something reads it)
  bool unsold_at_reserve, cascade, charge_on_exposure;  // mechanism.*
  bool always_exposed;      // every slot's exposure probability is 1: no exposure draws
  bool frozen_noise;        // mechanism.frozen_noise (physics.hpp noise_step / conversion_draw)
  float sigma, cross_category;  // values.procedural.*
  float bid_floor;          // qualifying_bid_floor(reserve): the smallest float bid that qualifies
  float sigma_cap;          // values.auctionnet.sigma_ratio_cap
  double reserve;           // mechanism.reserve, money units
  Money budget_floor;       // budget.floor, exact: agents with less remaining do not bid
  float exposure[kMaxSlots];  // per slot position, [S] used
};

// Throws ScenarioError (check_money_range, money.hpp) for a scenario outside the exact-money range.
MarketParams market_params(const Scenario& scenario);

}  // namespace bidsim
