// Host-only entry to the CUDA market backend (compiles with g++): the facade calls this when a
// device is present. The implementation and its kernels are in cuda_backend.cu / market_kernels.cuh.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/core/backend.hpp"
#include "engine/core/config_types.hpp"

namespace bidsim::cuda {

// Throws UsageError when no CUDA device is present or the scenario exceeds a documented limit
// of the CUDA backend (named in the message).
std::unique_ptr<Backend> make_cuda_backend(const Scenario& scenario);

// Benchmark probe: the first auction pass of step 0 alone (candidates, values, ranking, prices,
// bid counts), timed with CUDA events over `repeats` launches after one warm-up.
struct AuctionKernelTiming {
  double milliseconds = 0;   // per launch
  std::int64_t bytes = 0;    // compulsory device-memory traffic per launch (reads + writes)
  std::int64_t bids = 0;     // bid evaluations per launch (impressions x candidates)
};
AuctionKernelTiming time_auction_kernel(const Scenario& scenario, const float* multipliers, int repeats);

}  // namespace bidsim::cuda
