// What the [cuda] test files share: skipping without a device (Catch2 v2 has no SKIP, so a case
// WARNs and returns; CTest still reports it as passed). In the emulation build the host emulator
// is the device, so the cases run on machines without a GPU too.
#pragma once

#include <catch2/catch.hpp>

#include "engine/facade/simulator.hpp"

namespace bidsim_test {

inline bool skip_without_cuda_device() {
  if (bidsim::cuda_device_present()) return false;
  WARN("no CUDA device: skipped");
  return true;
}

}  // namespace bidsim_test
