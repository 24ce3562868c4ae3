// The CPU backend: the reference implementation of the market step. Environments run in parallel
// (OpenMP), each on one thread in a fixed order, so results do not depend on the thread count.
#pragma once

#include <memory>

#include "engine/core/backend.hpp"
#include "engine/core/config_types.hpp"

namespace bidsim {

// threads <= 0: OpenMP's default.
std::unique_ptr<Backend> make_cpu_backend(const Scenario& scenario, int threads);

}  // namespace bidsim
