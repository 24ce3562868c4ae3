// Device selection (device_choice.hpp): the one file that asks whether this build has the CUDA backend
// and the one place the "no CUDA device" refusal is worded.
#include "engine/core/device_choice.hpp"

#include "engine/core/errors.hpp"

#ifdef BIDSIM_HAVE_CUDA
#include "cuda/device.hpp"
#endif

namespace bidsim {

Device parse_device(const std::string& text) {
  if (text == "auto") return Device::automatic;
  if (text == "cpu") return Device::cpu;
  if (text == "cuda") return Device::cuda;
  throw UsageError("--device: got '" + text + "', expected auto, cpu or cuda");
}

bool cuda_backend_built() {
#ifdef BIDSIM_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_device_present() {
#ifdef BIDSIM_HAVE_CUDA
  return cuda::device_count() > 0;  // 0 on any runtime error (cuda/device.cu)
#else
  return false;
#endif
}

void require_cuda_device(const std::string& what) {
  if (!cuda_backend_built())
    throw UsageError(what + ": this bidsim was built without the CUDA backend (no nvcc at configure time)");
  if (!cuda_device_present()) throw UsageError(what + ": no CUDA device is available on this machine");
}

Device choose_device(Device requested, bool worth_a_device) {
  switch (requested) {
    case Device::cpu: return Device::cpu;
    case Device::cuda: require_cuda_device("--device cuda"); return Device::cuda;
    case Device::automatic: return worth_a_device && cuda_device_present() ? Device::cuda : Device::cpu;
  }
  throw std::logic_error("choose_device: unknown device");
}

}  // namespace bidsim
