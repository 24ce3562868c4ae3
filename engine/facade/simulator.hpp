// The Simulator facade: picks a backend (cpu, or cuda when built and a device is present) and runs
// E environments step by step. The only place that knows which backends exist is simulator.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/core/backend.hpp"
#include "engine/core/config_types.hpp"
#include "engine/core/device_choice.hpp"
#include "engine/core/errors.hpp"
#include "engine/core/market_state.hpp"

namespace bidsim {

class Simulator {
 public:
  // `threads` <= 0 uses every core (CPU backend).
  Simulator(const Scenario& scenario, Device device = Device::automatic, int threads = 0);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  const char* backend_name() const { return backend_->name(); }
  const Scenario& scenario() const { return scenario_; }

  // Throws UsageError when (episode + 1) x E reaches 2^24, the range of the draws' env counter.
  void reset(std::uint64_t episode = 0);
  // One step with multipliers [E][N]; throws std::logic_error after the last step.
  void step(const float* multipliers);

  // Per-impression bids (impression_bids.hpp). observe_impressions: the values agents see for the
  // next step. step_bids: that step with `count` = rows x N bids [rows][N]; outcomes (optional) get
  // every impression's result. UsageError on a wrong count, a NaN/infinite/negative bid, or a scenario
  // with sparse candidates; std::logic_error after the last step.
  void observe_impressions(StepImpressions& out);
  // The same values into caller memory (next_step_rows().back() x N cells each of value and sigma).
  void observe_impressions(const ValueOutput& out);
  void step_bids(const float* bids, std::size_t count, ImpressionOutcomes* outcomes = nullptr);
  // Rows of the next step, per environment ([E+1] offsets).
  std::vector<std::int64_t> next_step_rows() const;
  bool done();
  // Host copy of the state (a device backend copies it from the device only when asked).
  const MarketState& state() { return backend_->state(); }
  int step_index() const { return backend_->step_index(); }

  // Device-resident backends (cuda): zero-copy views of the per-step buffers (device_view.hpp) and a
  // step that reads the multipliers already written into MarketTensor::multipliers. The CPU backend
  // throws UsageError.
  bool device_resident() const { return backend_->device_resident(); }
  bool device_memory_on_host() const { return backend_->device_memory_on_host(); }
  DeviceTensorView device_tensor(MarketTensor which) { return backend_->device_tensor(which); }
  void step_on_device();
  // Blocks until the device tensors hold the results of the last reset/step (see Backend::synchronize).
  void synchronize() { backend_->synchronize(); }
  // The device backend's counts of launches, synchronizations and copies; nullptr on the CPU.
  const DeviceCounters* device_counters() { return backend_->device_counters(); }

 private:
  const Scenario scenario_;  // owned copy: the backend keeps a reference to it
  int threads_ = 0;
  std::unique_ptr<Backend> backend_;
};

}  // namespace bidsim
