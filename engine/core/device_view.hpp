// Zero-copy views of a backend's per-step device buffers, for LibTorch (rl/) without copies:
//   auto t = torch::from_blob(v.data, v.shape, torch::TensorOptions().dtype(<v.dtype>)
//                                                .device(torch::kCUDA, v.device));
// and order work on `stream` (e.g. at::cuda::getStreamFromExternal(cudaStream_t(v.stream), v.device)).
// Host-only plain types: no CUDA or LibTorch header is needed to hold one.
#pragma once

#include <cstdint>
#include <vector>

namespace bidsim {

enum class DType : int { float32 = 0, float64 = 1, int32 = 2, int64 = 3 };

// The buffers a device-resident backend exposes. Inputs are read by the next step_on_device();
// outputs are valid after a reset/step has completed on `stream`.
enum class MarketTensor : int {
  multipliers,        // in:  [E][N] float32, bid multipliers of the next step (negative/NaN act as 0)
  observations,       // out: [E][N][kObservationWidth] float32
  step_reward,        // out: [E][N] float64, reward of the step just run
  step_cost,          // out: [E][N] float64, money spent in the step just run
  step_value,         // out: [E][N] float64, value won in the step just run
  remaining_budget,   // out: [E][N] float64
  reward,             // out: [E][N] float64, return G_i so far
};

struct DeviceTensorView {
  void* data = nullptr;               // device pointer, owned by the backend (valid until it is destroyed)
  std::vector<std::int64_t> shape;    // row-major, contiguous
  DType dtype = DType::float32;
  void* stream = nullptr;             // cudaStream_t the backend runs on
  int device = 0;                     // CUDA device ordinal
};

}  // namespace bidsim
