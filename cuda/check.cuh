// Throwing CUDA error check with file:line, the call text and the error name; a non-throwing
// variant for destructors; a launch check after every kernel launch. Only for .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#define BIDSIM_CUDA_CHECK(call)                                                                 \
  do {                                                                                          \
    const cudaError_t bidsim_status_ = (call);                                                  \
    if (bidsim_status_ != cudaSuccess)                                                          \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + \
                               #call + " failed: " + cudaGetErrorName(bidsim_status_) + " (" + \
                               cudaGetErrorString(bidsim_status_) + ")");                       \
  } while (0)

#define BIDSIM_CUDA_CHECK_NOTHROW(call)                                                   \
  do {                                                                                    \
    const cudaError_t bidsim_status_ = (call);                                            \
    if (bidsim_status_ != cudaSuccess)                                                    \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,           \
                   cudaGetErrorName(bidsim_status_));                                     \
  } while (0)

// After `kernel<<<...>>>(...)`: reports a bad configuration at the launch site (asynchronous
// faults surface at the next synchronizing call, which is checked too).
#define BIDSIM_CUDA_CHECK_LAUNCH(name) BIDSIM_CUDA_CHECK(cudaPeekAtLastError())
