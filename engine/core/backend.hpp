// The interface every market backend implements (CPU here, CUDA in cuda/). The Simulator facade
// (simulator.hpp) owns one; nothing above the engine talks to a backend directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/device_counters.hpp"
#include "engine/core/device_view.hpp"
#include "engine/core/errors.hpp"
#include "engine/core/impression_bids.hpp"
#include "engine/core/market_state.hpp"

namespace bidsim {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Starts E new episodes; `episode` enters every draw so successive resets differ.
  virtual void reset(std::uint64_t episode) = 0;
  // Runs one step with bid multipliers a_{e,i} ([E][N], host memory); negative values act as 0.
  virtual void step(const float* multipliers) = 0;
  // One step with per-impression bids ([rows][N], host memory, checked by the facade; layout in
  // impression_bids.hpp); fills `outcomes` (already sized to the step's rows) when not null.
  virtual void step_bids(const float* bids, ImpressionOutcomes* outcomes) = 0;
  // The episode's host-side parameters (kept on the host by every backend, no device copy):
  // impressions [E][T] and the AuctionNet value parameters, for observe_step_values().
  virtual const std::vector<std::int32_t>& impressions_per_step() const = 0;
  virtual const AuctionNetEpisode& auctionnet_parameters() const = 0;
  virtual std::uint64_t episode() const = 0;
  // Host view of the state after the last reset/step (a device backend copies it when asked).
  virtual const MarketState& state() = 0;
  // Next step to run (0..T), without materializing the host state.
  virtual int step_index() const = 0;

  // Device-resident backends only (the CPU backend refuses): zero-copy views of the per-step
  // buffers, and a step that reads its multipliers from MarketTensor::multipliers on the device.
  virtual bool device_resident() const { return false; }
  // Whether a device-resident backend's buffers are host memory (the CUDA backend on the host
  // emulator): then its device tensors are CPU memory to LibTorch and DLPack.
  virtual bool device_memory_on_host() const { return false; }
  virtual DeviceTensorView device_tensor(MarketTensor) {
    throw UsageError(std::string("device tensors: the ") + name() + " backend keeps its state in host memory");
  }
  virtual void step_on_device() {
    throw UsageError(std::string("step_on_device: the ") + name() + " backend keeps its state in host memory");
  }
  // Waits until the work a reset/step queued on the backend's stream is done, so another stream
  // (LibTorch's) may read the device tensors. Host-memory backends finish inside step(): no-op.
  virtual void synchronize() {}
  // Device backends: what they asked of the GPU runtime (device_counters.hpp); nullptr otherwise.
  virtual const DeviceCounters* device_counters() { return nullptr; }
};

}  // namespace bidsim
