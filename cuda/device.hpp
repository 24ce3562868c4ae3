// Host-only view of the CUDA runtime for code above cuda/: is there a device, and what is it.
// Compiles with g++ alone; the implementation is in device.cu.
#pragma once

#include <string>

namespace bidsim::cuda {

// Number of usable devices; 0 when the runtime reports any error (no driver, no GPU).
int device_count();
// "NVIDIA H100 80GB HBM3 (sm_90, driver 13.0)" or an empty string without a device.
std::string device_description();
// Makes device `index` current for this host thread (before any other CUDA call, so every later
// allocation and stream of the process lands there). False when the runtime refuses.
bool use_device(int index);

}  // namespace bidsim::cuda
