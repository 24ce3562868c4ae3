// market_params(): the one place the scenario's settings become the scalars a market step reads.
#include "engine/core/market_params.hpp"

#include "engine/core/episode_setup.hpp"
#include "engine/core/physics.hpp"

namespace bidsim {

MarketParams market_params(const Scenario& s) {
  // Both backends are built from here, so a scenario that was changed after loading (a file-valued
  // market filled in memory, a program's own Scenario) meets the exact-money range too: no backend
  // runs a market whose sums could overflow.
  check_money_range(s);
  MarketParams p{};
  p.seed = s.seed;
  p.E = s.market.envs;
  p.N = s.agents.count;
  p.S = s.mechanism.slots;
  p.T = s.market.steps;
  p.C = candidates_per_impression(s);
  p.model = s.values.model;
  p.mode = s.values.model == ValueModel::file ? CandidateMode::dense : s.candidates.mode;
  p.K = p.mode == CandidateMode::sparse ? s.candidates.per_impression : 0;
  p.categories = s.agents.categories;
  p.max_passes = s.budget.max_passes;
  p.distribution = s.values.procedural.distribution;
  p.reward = s.reward;
  p.overspend = s.budget.overspend;
  p.within_category = s.candidates.within_category;
  p.needs_category = s.agents.categories > 1 && (s.candidates.within_category || s.values.model == ValueModel::procedural);
  p.unsold_at_reserve = s.mechanism.unsold_at_reserve;
  p.cascade = s.mechanism.exposure_cascade;
  p.charge_on_exposure = s.mechanism.charge_on_exposure;
  p.frozen_noise = s.mechanism.frozen_noise;
  p.always_exposed = true;
  for (int k = 0; k < p.S; ++k) {
    p.exposure[k] = static_cast<float>(s.mechanism.exposure[k]);
    p.always_exposed = p.always_exposed && p.exposure[k] >= 1.0f;
  }
  p.sigma = static_cast<float>(s.values.procedural.sigma);
  p.cross_category = static_cast<float>(s.values.procedural.cross_category);
  p.bid_floor = qualifying_bid_floor(s.mechanism.reserve);
  p.sigma_cap = static_cast<float>(s.values.auctionnet.sigma_ratio_cap);
  p.reserve = s.mechanism.reserve;
  p.budget_floor = budget_to_money(s.budget.floor);
  return p;
}

}  // namespace bidsim
