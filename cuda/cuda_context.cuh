// The explicit-stream context every launcher takes: one non-blocking stream (never the default
// stream) and the backend's one launch discipline (issue 15 item 8). Every device operation
// of the market backend goes through this class, which counts it (engine/core/device_counters.hpp): the
// counts come from these calls, not from the runtime, so a GPU and the host emulator count the same.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cuda/check.cuh"
#include "cuda/device_buffer.cuh"
#include "cuda/launch.cuh"
#include "engine/core/device_counters.hpp"

namespace bidsim::cuda {

class CudaContext {
 public:
  CudaContext() {
    BIDSIM_CUDA_CHECK(cudaGetDevice(&device_));
    BIDSIM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~CudaContext() {
    if (stream_) BIDSIM_CUDA_CHECK_NOTHROW(cudaStreamDestroy(stream_));
  }
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }
  const DeviceCounts& counts() const { return counts_; }

  void synchronize() {
    BIDSIM_CUDA_CHECK(cudaStreamSynchronize(stream_));
    ++counts_.host_synchronizations;
  }

  // ----- launches -----------------------------------------------------------------------------
  // One thread per element: ceil(elements / threads) blocks; nothing is launched when elements <= 0.
  template <class... Params, class... Args>
  void launch_over(const char* name, void (*kernel)(Params...), std::int64_t elements, int threads,
                   std::size_t shared_bytes, Args&&... args) {
    if (elements <= 0) return;
    launch_blocks(name, kernel, (elements + threads - 1) / threads, threads, shared_bytes, std::forward<Args>(args)...);
  }
  // `blocks` blocks of `threads`; nothing when blocks <= 0. The launch is checked at once and a
  // refusal names the kernel and its configuration (asynchronous faults surface at the next
  // checked synchronizing call).
  template <class... Params, class... Args>
  void launch_blocks(const char* name, void (*kernel)(Params...), std::int64_t blocks, int threads,
                     std::size_t shared_bytes, Args&&... args) {
    if (blocks <= 0) return;
    if (blocks > kMaxGridBlocks)
      throw std::runtime_error(std::string("launch of ") + name + ": " + std::to_string(blocks) +
                               " blocks, expected at most 2^31 - 1");
    launch(kernel, dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads)), shared_bytes, stream_,
           std::forward<Args>(args)...);
    ++counts_.kernel_launches;
    const cudaError_t status = cudaPeekAtLastError();
    if (status != cudaSuccess)
      throw std::runtime_error(std::string("launch of ") + name + " (" + std::to_string(blocks) + " blocks of " +
                               std::to_string(threads) + " threads, " + std::to_string(shared_bytes) +
                               " B dynamic shared memory) failed: " + cudaGetErrorName(status) + " (" +
                               cudaGetErrorString(status) + ")");
  }
  // A CUB device-wide call made by the caller on stream(), counted (the market step makes none
  // since its drop selection became a select; the count stays in the report for any that returns).
  void count_cub_call() { ++counts_.cub_calls; }

  // ----- copies and memsets (stream-ordered, counted) -----------------------------------------
  template <class T>
  void upload(DeviceBuffer<T>& to, const T* from, std::size_t count) {
    if (count == 0) return;
    to.upload(from, count, stream_);
    ++counts_.h2d_copies;
    counts_.h2d_bytes += static_cast<std::int64_t>(count * sizeof(T));
  }
  // Grows `to` to the vector's size first.
  template <class T>
  void upload(DeviceBuffer<T>& to, const std::vector<T>& from) {
    to.reserve(from.size());
    upload(to, from.data(), from.size());
  }
  template <class T>
  void download(const DeviceBuffer<T>& from, T* to, std::size_t count) {
    if (count == 0) return;
    from.download(to, count, stream_);
    ++counts_.d2h_copies;
    counts_.d2h_bytes += static_cast<std::int64_t>(count * sizeof(T));
  }
  template <class T>
  void zero(DeviceBuffer<T>& buffer, std::size_t count) {
    if (count == 0) return;
    buffer.zero(stream_, count);
    ++counts_.memsets;
  }
  template <class T>
  void zero(DeviceBuffer<T>& buffer) { zero(buffer, buffer.size()); }

 private:
  static constexpr std::int64_t kMaxGridBlocks = 2147483647;

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  DeviceCounts counts_;
};

}  // namespace bidsim::cuda
