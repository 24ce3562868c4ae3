// Where the market and the batched solvers run: parsing --device, whether a CUDA device is present,
// the one refusal message, and the automatic rule. Every caller above cuda/ and cuda/ itself ask here.
#pragma once

#include <string>

namespace bidsim {

enum class Device { automatic, cpu, cuda };

// "auto" | "cpu" | "cuda"; anything else throws UsageError naming the value and the three choices.
Device parse_device(const std::string& text);
// Whether this build has the CUDA backend (nvcc, or the host emulator, at configure time).
bool cuda_backend_built();
// Whether the backend is built and the CUDA runtime reports a device; any runtime error counts as none.
bool cuda_device_present();
// Throws UsageError "<what>: ..." when the backend is not built or no device is present; `what` names
// the request that needs the device (e.g. "--device cuda").
void require_cuda_device(const std::string& what);

// The device a request runs on. cpu stays cpu; cuda is checked by require_cuda_device("--device cuda");
// automatic picks cuda only when `worth_a_device` (the caller's judgement that the work is big enough),
// the backend is built and a device is present, else cpu.
Device choose_device(Device requested, bool worth_a_device = true);

}  // namespace bidsim
