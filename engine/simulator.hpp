// The Simulator facade: picks a backend (cpu, or cuda when built and a device is present) and runs
// E environments step by step. The only place that knows which backends exist is simulator.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/backend.hpp"
#include "engine/config_types.hpp"
#include "engine/errors.hpp"
#include "engine/market_state.hpp"

namespace bidsim {

enum class Device { automatic, cpu, cuda };

Device parse_device(const std::string& text);  // "auto" | "cpu" | "cuda", else UsageError
bool cuda_backend_built();
bool cuda_device_present();  // any error from the CUDA runtime counts as "no device"

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
  bool done();
  const MarketState& state() { return backend_->state(); }

 private:
  const Scenario scenario_;  // owned copy: the backend keeps a reference to it
  std::unique_ptr<Backend> backend_;
};

}  // namespace bidsim
