// Kernel launches and dynamic shared memory through two small functions instead of the `<<<...>>>`
// syntax and `extern __shared__`, so the same kernels and launchers also build as plain C++ against
// the host emulator (cuda/emulation/, BIDSIM_CUDA_EMULATION), which runs every [cuda] test on
// machines without a GPU. With nvcc they are exactly the launch syntax and the shared array.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace bidsim::cuda {

// kernel<<<grid, block, shared_bytes, stream>>>(args...); the caller checks the launch
// (BIDSIM_CUDA_CHECK_LAUNCH) as after the raw syntax.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
            Args&&... args) {
#ifdef BIDSIM_CUDA_EMULATION
  emulation::launch(reinterpret_cast<const void*>(kernel), grid, block, shared_bytes, stream,
                    [&] { kernel(Params(args)...); });
#else
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
#endif
}

// A static shared variable of the block: `BIDSIM_SHARED(int[128], tile);` declares `tile` (the type
// first, so an array keeps its extent). On a GPU it starts uninitialized in every block; the emulator
// fills it with its stale pattern when the block's first thread reaches the declaration, so a read
// before the block writes it fails the emulated tests, as with dynamic shared memory.
template <class T>
using SharedVariable = T;
#ifdef BIDSIM_CUDA_EMULATION
#define BIDSIM_SHARED(Type, name)                          \
  static ::bidsim::cuda::SharedVariable<Type> name;        \
  ::bidsim::cuda::emulation::stale_static_shared(&(name), sizeof(name))
#else
#define BIDSIM_SHARED(Type, name) __shared__ ::bidsim::cuda::SharedVariable<Type> name
#endif

// The block's dynamic shared memory (the launch's shared_bytes), 16-byte aligned.
template <class T>
__device__ __forceinline__ T* dynamic_shared() {
#ifdef BIDSIM_CUDA_EMULATION
  return static_cast<T*>(emulation::dynamic_shared_memory());
#else
  extern __shared__ __align__(16) unsigned char bidsim_dynamic_shared[];
  return reinterpret_cast<T*>(bidsim_dynamic_shared);
#endif
}

}  // namespace bidsim::cuda
