// The CUDA runtime and device language as far as bidsim uses them, run on the host: the "device" of
// the emulation build (cmake -DBIDSIM_CUDA_EMULATION=ON; this folder comes first on the include
// path, so every `#include <cuda_runtime.h>` of cuda/ and the tests lands here). It lets the [cuda]
// tests execute the real kernels and launchers, unchanged, on a machine without a GPU.
//
// Execution model (emulator.cpp): a launch runs its blocks one after another; the threads of a block
// are cooperative fibers (Boost.Context) that run until they reach a barrier or a warp collective,
// which completes when every live participant has arrived. Collectives of different masks in one
// warp (lane groups, each with its own mask, then perhaps the whole warp) complete independently, as
// under a GPU's independent thread scheduling. Launches and copies are synchronous
// (stream order holds trivially). What it checks, as a GPU would refuse or a sanitizer would report:
// launch configurations (zero or oversized grids and blocks, dynamic shared memory above 48 KB
// without cudaFuncSetAttribute), warp collectives with lanes that have exited or diverged to
// another collective, barriers that can never complete (deadlock), copies outside device
// allocations or in the wrong direction, and stale device memory (cudaMalloc and shared memory are
// filled with a byte pattern, as a GPU leaves them uninitialized). BIDSIM_EMULATION_ORDER=reverse
// runs blocks and threads in reverse order, so results that depend on the order of unsynchronized
// threads show up as a difference between the two orders.
//
// What it cannot show: timing, memory-model effects of real concurrency, and nvcc's own code
// generation (the GPU run is still the word on those).
#pragma once

#ifndef BIDSIM_CUDA_EMULATION
#define BIDSIM_CUDA_EMULATION 1
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

// ---- the device language's keywords -------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// Static shared memory is declared with BIDSIM_SHARED (cuda/launch.cuh): a function-local static the
// emulator fills with its stale pattern in every block. A bare __shared__ would keep the previous
// block's values (a read before write would pass), so it does not compile here.
#define __shared__ __shared__is_not_emulated_declare_static_shared_memory_with_BIDSIM_SHARED

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

// ---- runtime types (the values of the real enumerators, for messages that match) ------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
typedef cudaError_t cudaError;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaSharedCarveout {
  cudaSharedmemCarveoutDefault = -1,
  cudaSharedmemCarveoutMaxL1 = 0,
  cudaSharedmemCarveoutMaxShared = 100,
};
constexpr unsigned cudaStreamDefault = 0x00;
constexpr unsigned cudaStreamNonBlocking = 0x01;

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int multiProcessorCount;
  int major;
  int minor;
};

// ---- runtime API (emulator.cpp) -------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaDeviceSynchronize();
// Emulator: clears a launch failure so a test can go on after provoking one (allocations stay).
cudaError_t cudaDeviceReset();

cudaError_t cudaMalloc(void** pointer, std::size_t bytes);
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMallocHost(void** pointer, std::size_t bytes);
cudaError_t cudaFreeHost(void* pointer);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                              std::size_t width, std::size_t height, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* pointer, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* pointer, int value, std::size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t stop);

namespace bidsim::cuda::emulation {

cudaError_t set_function_attribute(const void* kernel, cudaFuncAttribute attribute, int value);

// Runs `body` (one thread's call of the kernel) for every thread of the grid; sets the launch error
// (cudaPeekAtLastError) instead of running when the configuration is one a GPU refuses.
void launch(const void* kernel, dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
            const std::function<void()>& body);

// The calling emulated thread's coordinates and its block's dynamic shared memory.
const uint3& thread_index();
const uint3& block_index();
const dim3& block_dim();
const dim3& grid_dim();
void* dynamic_shared_memory();
// BIDSIM_SHARED's half in the emulator: the first thread of each block that reaches the declaration
// fills the variable's `bytes` with the stale pattern, as a launch fills dynamic shared memory.
void stale_static_shared(void* storage, std::size_t bytes);

// Collectives: each returns once every participant has arrived (see the top of this file).
void block_barrier();
int block_barrier_count(int predicate);  // __syncthreads_count
void warp_barrier(unsigned mask);
unsigned warp_ballot(unsigned mask, int predicate);
std::uint64_t warp_shuffle(unsigned mask, std::uint64_t value, int source_lane);
int lane_id();

template <class T>
T shuffle_as(unsigned mask, T value, int source_lane) {
  static_assert(sizeof(T) <= sizeof(std::uint64_t), "the emulator shuffles up to 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = warp_shuffle(mask, bits, source_lane);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace bidsim::cuda::emulation

template <class Function>
cudaError_t cudaFuncSetAttribute(Function* kernel, cudaFuncAttribute attribute, int value) {
  return bidsim::cuda::emulation::set_function_attribute(reinterpret_cast<const void*>(kernel), attribute, value);
}

// ---- device built-ins -----------------------------------------------------------------------------
#define threadIdx (::bidsim::cuda::emulation::thread_index())
#define blockIdx (::bidsim::cuda::emulation::block_index())
#define blockDim (::bidsim::cuda::emulation::block_dim())
#define gridDim (::bidsim::cuda::emulation::grid_dim())
constexpr int warpSize = 32;

inline void __syncthreads() { bidsim::cuda::emulation::block_barrier(); }
inline int __syncthreads_count(int predicate) { return bidsim::cuda::emulation::block_barrier_count(predicate); }
inline int __syncthreads_or(int predicate) { return __syncthreads_count(predicate) != 0; }
inline int __syncthreads_and(int predicate) {
  const int n = static_cast<int>(blockDim.x * blockDim.y * blockDim.z);
  return __syncthreads_count(predicate) == n;
}
inline void __syncwarp(unsigned mask = 0xffffffffu) { bidsim::cuda::emulation::warp_barrier(mask); }
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return bidsim::cuda::emulation::warp_ballot(mask, predicate);
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
// 1 + the index of the lowest set bit, 0 for 0 (a plain integer intrinsic, no warp involved).
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __all_sync(unsigned mask, int predicate) { return (__ballot_sync(mask, predicate) & mask) == mask; }
template <class T>
T __shfl_sync(unsigned mask, T value, int source_lane, int width = warpSize) {
  const int lane = bidsim::cuda::emulation::lane_id();
  return bidsim::cuda::emulation::shuffle_as(mask, value, (lane & ~(width - 1)) + (source_lane & (width - 1)));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize) {
  const int lane = bidsim::cuda::emulation::lane_id();
  const int source = lane ^ lane_mask;
  // CUDA's rule (PTX shfl.bfly: the source must be at most the last lane of the caller's width
  // segment): a lane may read an earlier segment, and keeps its own value for a later one.
  return bidsim::cuda::emulation::shuffle_as(mask, value, (source & ~(width - 1)) <= (lane & ~(width - 1)) ? source : lane);
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  const int lane = bidsim::cuda::emulation::lane_id();
  const int source = (lane & (width - 1)) + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane;
  return bidsim::cuda::emulation::shuffle_as(mask, value, source);
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  const int lane = bidsim::cuda::emulation::lane_id();
  const int source = (lane & (width - 1)) >= static_cast<int>(delta) ? lane - static_cast<int>(delta) : lane;
  return bidsim::cuda::emulation::shuffle_as(mask, value, source);
}

// Atomics: emulated threads never preempt one another, so a read-modify-write is atomic as written.
namespace bidsim::cuda::emulation {
template <class T, class Update>
T read_modify_write(T* address, Update update) {
  const T old = *address;
  *address = update(old);
  return old;
}
}  // namespace bidsim::cuda::emulation

template <class T>
T atomicAdd(T* address, T value) {
  return bidsim::cuda::emulation::read_modify_write(address, [value](T old) { return old + value; });
}
template <class T>
T atomicSub(T* address, T value) {
  return bidsim::cuda::emulation::read_modify_write(address, [value](T old) { return old - value; });
}
template <class T>
T atomicOr(T* address, T value) {
  return bidsim::cuda::emulation::read_modify_write(address, [value](T old) { return old | value; });
}
template <class T>
T atomicAnd(T* address, T value) {
  return bidsim::cuda::emulation::read_modify_write(address, [value](T old) { return old & value; });
}
template <class T>
T atomicMax(T* address, T value) {
  return bidsim::cuda::emulation::read_modify_write(address, [value](T old) { return old < value ? value : old; });
}
template <class T>
T atomicMin(T* address, T value) {
  return bidsim::cuda::emulation::read_modify_write(address, [value](T old) { return value < old ? value : old; });
}
template <class T>
T atomicExch(T* address, T value) {
  return bidsim::cuda::emulation::read_modify_write(address, [value](T) { return value; });
}
template <class T>
T atomicCAS(T* address, T compare, T value) {
  return bidsim::cuda::emulation::read_modify_write(address,
                                                     [compare, value](T old) { return old == compare ? value : old; });
}
