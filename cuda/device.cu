// Device discovery. TOOLCHAIN.md: without a GPU cudaGetDeviceCount returns error 35, so every
// error means "no device".
#include "cuda/device.hpp"

#include <cuda_runtime.h>

namespace bidsim::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return count;
}

bool use_device(int index) {
  if (cudaSetDevice(index) == cudaSuccess) return true;
  (void)cudaGetLastError();
  return false;
}

std::string device_description() {
  if (device_count() == 0) return {};
  int device = 0, driver = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&prop, device) != cudaSuccess)
    return {};
  cudaDriverGetVersion(&driver);
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
         ", driver " + std::to_string(driver / 1000) + "." + std::to_string((driver % 1000) / 10) + ")";
}

}  // namespace bidsim::cuda
