// A scenario restricted to a block of its environments (one MPI rank's share of the batch). Draws
// are keyed by the global env index (episode_setup.hpp), so the shards of a batch together equal it.
#pragma once

#include <string>

#include "engine/core/config_types.hpp"
#include "engine/core/errors.hpp"

namespace bidsim {

// Environments [first_env, first_env + envs) of `scenario`'s batch (which may itself be a shard:
// indices are then relative to it). Deviations keep their global env index; BuiltinPolicies applies
// those that fall inside the shard.
inline Scenario shard_scenario(const Scenario& scenario, int first_env, int envs) {
  const MarketConfig& m = scenario.market;
  if (first_env < 0 || envs < 1 || first_env + envs > m.envs)
    throw UsageError("shard_scenario: environments [" + std::to_string(first_env) + ", " +
                     std::to_string(first_env + envs) + ") outside the batch of " + std::to_string(m.envs));
  Scenario s = scenario;
  s.market.total_envs = m.batch_envs();
  s.market.first_env = m.first_env + first_env;
  s.market.envs = envs;
  return s;
}

}  // namespace bidsim
