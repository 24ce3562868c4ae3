// The interface every market backend implements (CPU here, CUDA in cuda/). The Simulator facade
// (simulator.hpp) owns one; nothing above the engine talks to a backend directly.
#pragma once

#include <cstdint>

#include "engine/market_state.hpp"

namespace bidsim {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Starts E new episodes; `episode` enters every draw so successive resets differ.
  virtual void reset(std::uint64_t episode) = 0;
  // Runs one step with bid multipliers a_{e,i} ([E][N], host memory); negative values act as 0.
  virtual void step(const float* multipliers) = 0;
  // Host view of the state after the last reset/step.
  virtual const MarketState& state() = 0;
};

}  // namespace bidsim
