// How many lanes of a warp the CUDA auction kernel gives one impression (its lane group), chosen once
// per backend from the scenario; host-only (g++), so the tests can pin the rule. docs/gpu-design.md.
#pragma once

#include <cstdint>

#include "engine/core/config_types.hpp"

namespace bidsim::cuda {

constexpr int kMaxGroupLanes = 32;  // a warp

// Units of work in one impression's candidate loop, each one lane's: a Philox call of four agents'
// values (dense procedural / AuctionNet: ceil(N / 4)), one candidate (sparse: K), one row entry
// (file values: the mean row length, rounded up; 1 for a file without rows).
inline std::int64_t auction_lane_work(const Scenario& s) {
  if (s.values.model == ValueModel::file) {
    const std::vector<std::int64_t>& offset = s.values.file.row_offset;
    const std::int64_t rows = offset.empty() ? 0 : static_cast<std::int64_t>(offset.size()) - 1;
    if (rows <= 0) return 1;
    const std::int64_t entries = offset.back() - offset.front();
    return entries <= 0 ? 1 : (entries + rows - 1) / rows;
  }
  if (s.candidates.mode == CandidateMode::sparse) return s.candidates.per_impression;
  return (static_cast<std::int64_t>(s.agents.count) + 3) / 4;
}

// The lane group's width: the smallest power of two at least the work, at most a warp. Up to 32
// units, the candidate loop then takes one round with fewer than half of the group's lanes idle, and
// a warp ranks 32 / width impressions (and runs their serial tails) at once; a larger market takes
// the whole warp per impression, as before lane groups.
inline int auction_group_lanes(const Scenario& s) {
  const std::int64_t work = auction_lane_work(s);
  int lanes = 1;
  while (lanes < kMaxGroupLanes && lanes < work) lanes *= 2;
  return lanes;
}

}  // namespace bidsim::cuda
