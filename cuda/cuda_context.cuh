// The explicit-stream context every launcher takes: one non-blocking stream (never the default
// stream), CUB scratch sized once at reset and reused, and a pinned host word for the few flags
// the host must read (the overspend rule's "another pass?").
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/check.cuh"
#include "cuda/device_buffer.cuh"

namespace bidsim::cuda {

class CudaContext {
 public:
  CudaContext() {
    BIDSIM_CUDA_CHECK(cudaGetDevice(&device_));
    BIDSIM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    BIDSIM_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host_flag_), sizeof(std::int32_t)));
  }
  ~CudaContext() {
    if (host_flag_) BIDSIM_CUDA_CHECK_NOTHROW(cudaFreeHost(host_flag_));
    if (stream_) BIDSIM_CUDA_CHECK_NOTHROW(cudaStreamDestroy(stream_));
  }
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }
  void synchronize() const { BIDSIM_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  // CUB temporary storage: grown at setup to the largest request, then reused by every call.
  void reserve_scratch(std::size_t bytes) { scratch_.reserve(bytes); }
  void* scratch() const { return const_cast<unsigned char*>(scratch_.data()); }
  std::size_t scratch_bytes() const { return scratch_.size(); }

  // Copies one device int32 to pinned memory and waits for it (a stream synchronization).
  std::int32_t read_flag(const std::int32_t* device_flag) const {
    BIDSIM_CUDA_CHECK(cudaMemcpyAsync(host_flag_, device_flag, sizeof(std::int32_t),
                                      cudaMemcpyDeviceToHost, stream_));
    synchronize();
    return *host_flag_;
  }

 private:
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  std::int32_t* host_flag_ = nullptr;
  DeviceBuffer<unsigned char> scratch_;
};

}  // namespace bidsim::cuda
