// Per-episode market parameters drawn at reset (traffic per step, AuctionNet value factors).
// Host functions shared by both backends; the CUDA backend uploads what they produce.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/core/market_state.hpp"

namespace bidsim {

// Impressions per step for global environment `global_env`: a constant count, or the profile
// jittered per window (factor U(low, high)), renormalized to the profile's total and truncated.
void episode_impressions(const Scenario& scenario, std::uint32_t global_env, std::int32_t* out);

// Upper bound of impressions per step over every episode (sizes the per-step scratch).
std::int64_t max_impressions_per_step(const Scenario& scenario);

// Candidates per impression: N (dense), K (sparse) or the most rows of any impression (file).
int candidates_per_impression(const Scenario& scenario);

// Fills env `e`'s slice of the AuctionNet value-model parameters (shared/data/auctionnet-preset.md).
void auctionnet_episode(const Scenario& scenario, std::uint32_t global_env, int e,
                        AuctionNetEpisode& out);

// Agents of each category as CSR: members[offset[c] .. offset[c+1]).
struct CategoryMembers {
  std::vector<std::int32_t> offset;
  std::vector<std::int32_t> members;
};
CategoryMembers category_members(const AgentsConfig& agents);

// Global environment index of local env `e` in episode `episode`: every draw is keyed by it.
// A shard's env e is env first_env + e of the whole batch (MarketConfig).
inline std::uint32_t global_env(std::uint64_t episode, const MarketConfig& market, int e) {
  return static_cast<std::uint32_t>(episode * static_cast<std::uint64_t>(market.batch_envs()) +
                                    static_cast<std::uint64_t>(market.first_env + e));
}

}  // namespace bidsim
