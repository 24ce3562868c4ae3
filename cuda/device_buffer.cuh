// DeviceBuffer<T>: a move-only owner of one cudaMalloc allocation (tiny-cuda-nn's GPUMemory idea),
// with stream-ordered upload / download / zero. Sizes grow at reset and never inside a step.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "cuda/check.cuh"

namespace bidsim::cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }

  // Exactly `count` elements; old contents are discarded (never called while a step is in flight).
  void resize(std::size_t count) {
    if (count == size_) return;
    release();
    if (count > 0) BIDSIM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)));
    size_ = count;
  }
  // At least `count` elements (grow-only); returns whether it reallocated.
  bool reserve(std::size_t count) {
    if (count <= size_) return false;
    resize(count);
    return true;
  }

  void upload(const T* host, std::size_t count, cudaStream_t stream) {
    if (count == 0) return;
    BIDSIM_CUDA_CHECK(cudaMemcpyAsync(data_, host, count * sizeof(T), cudaMemcpyHostToDevice, stream));
  }
  void upload(const std::vector<T>& host, cudaStream_t stream) {
    reserve(host.size());
    upload(host.data(), host.size(), stream);
  }
  void download(T* host, std::size_t count, cudaStream_t stream) const {
    if (count == 0) return;
    BIDSIM_CUDA_CHECK(cudaMemcpyAsync(host, data_, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
  }
  void zero(cudaStream_t stream, std::size_t count) {
    if (count == 0) return;
    BIDSIM_CUDA_CHECK(cudaMemsetAsync(data_, 0, count * sizeof(T), stream));
  }
  void zero(cudaStream_t stream) { zero(stream, size_); }

 private:
  void release() noexcept {
    if (data_) BIDSIM_CUDA_CHECK_NOTHROW(cudaFree(data_));
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace bidsim::cuda
