// What a device backend asks of the GPU runtime, counted by the backend's own code at each call
// (kernel launches, CUB calls, memsets, host synchronizations, host<->device copies and bytes), so
// the counts are the same on a GPU and on the host emulator (cuda/emulation/): the cost structure
// of a step, visible without a GPU (issue 15 item 4). Host-only, no CUDA types.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace bidsim {

struct DeviceCounts {
  std::int64_t kernel_launches = 0;
  std::int64_t cub_calls = 0;              // CUB device-wide algorithms (a few kernels each on a GPU)
  std::int64_t memsets = 0;                // cudaMemsetAsync calls
  std::int64_t host_synchronizations = 0;  // the host waited for the stream
  std::int64_t h2d_copies = 0, h2d_bytes = 0;
  std::int64_t d2h_copies = 0, d2h_bytes = 0;

  DeviceCounts& operator+=(const DeviceCounts& other);
  friend DeviceCounts operator-(DeviceCounts a, const DeviceCounts& b);
  friend bool operator==(const DeviceCounts& a, const DeviceCounts& b);
};

// The fields with their report names, in report order (summary.json, tests).
inline constexpr std::pair<const char*, std::int64_t DeviceCounts::*> kDeviceCountFields[] = {
    {"kernel_launches", &DeviceCounts::kernel_launches},
    {"cub_calls", &DeviceCounts::cub_calls},
    {"memsets", &DeviceCounts::memsets},
    {"host_synchronizations", &DeviceCounts::host_synchronizations},
    {"h2d_copies", &DeviceCounts::h2d_copies},
    {"h2d_bytes", &DeviceCounts::h2d_bytes},
    {"d2h_copies", &DeviceCounts::d2h_copies},
    {"d2h_bytes", &DeviceCounts::d2h_bytes},
};

inline DeviceCounts& DeviceCounts::operator+=(const DeviceCounts& other) {
  for (const auto& field : kDeviceCountFields) this->*field.second += other.*field.second;
  return *this;
}
inline DeviceCounts operator-(DeviceCounts a, const DeviceCounts& b) {
  for (const auto& field : kDeviceCountFields) a.*field.second -= b.*field.second;
  return a;
}
inline bool operator==(const DeviceCounts& a, const DeviceCounts& b) {
  for (const auto& field : kDeviceCountFields)
    if (a.*field.second != b.*field.second) return false;
  return true;
}

struct DeviceCounters {
  DeviceCounts total;                // everything since the backend was made
  DeviceCounts outside_steps;        // construction, reset() and host copies of the state (state())
  std::vector<DeviceCounts> steps;   // one entry per step() / step_on_device() since the last reset()
};

}  // namespace bidsim
