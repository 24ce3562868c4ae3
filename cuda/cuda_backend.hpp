// Host-only entry to the CUDA market backend (compiles with g++): the facade calls this when a
// device is present. The implementation and its kernels are in cuda_backend.cu / market_kernels.cuh.
#pragma once

#include <memory>

#include "engine/backend.hpp"
#include "engine/config_types.hpp"

namespace bidsim::cuda {

// Throws UsageError when no CUDA device is present or the scenario exceeds a documented limit
// of the CUDA backend (named in the message).
std::unique_ptr<Backend> make_cuda_backend(const Scenario& scenario);

}  // namespace bidsim::cuda
