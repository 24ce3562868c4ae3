// The host CUDA emulator (cuda/emulation/, built with -DBIDSIM_CUDA_EMULATION=ON), on small kernels
// whose results are known by hand: block barriers and shared memory, warp shuffles and votes,
// dynamic shared memory, atomics, and the faults it must report instead of computing on (refused
// launch configurations, deadlocks, collectives with exited lanes, copies outside allocations).
// The [cuda] tests then rely on it to run the real market and mean-field kernels.
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "cuda/launch.cuh"

namespace {

using bidsim::cuda::dynamic_shared;
using bidsim::cuda::launch;

constexpr unsigned kFull = 0xffffffffu;

// Owns one device array of n ints for a test.
struct DeviceInts {
  explicit DeviceInts(std::size_t count) : n(count) {
    REQUIRE(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(int)) == cudaSuccess);
  }
  ~DeviceInts() { cudaFree(p); }
  std::vector<int> read() const {
    std::vector<int> host(n);
    REQUIRE(cudaMemcpy(host.data(), p, n * sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess);
    return host;
  }
  void write(const std::vector<int>& host) {
    REQUIRE(cudaMemcpy(p, host.data(), n * sizeof(int), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  int* p = nullptr;
  std::size_t n;
};

// A fault leaves the context failed, as on a GPU; the emulator's cudaDeviceReset starts it over.
void expect_launch_failure() {
  CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  REQUIRE(cudaDeviceReset() == cudaSuccess);
  CHECK(cudaGetLastError() == cudaSuccess);
}

// Reverses each block's slice through a static shared array: wrong without the barrier, since every
// thread reads what another one wrote.
__global__ void reverse_kernel(const int* in, int* out) {
  BIDSIM_SHARED(int[128], tile);
  const int base = static_cast<int>(blockIdx.x * blockDim.x);
  tile[threadIdx.x] = in[base + static_cast<int>(threadIdx.x)];
  __syncthreads();
  out[base + static_cast<int>(threadIdx.x)] = tile[blockDim.x - 1 - threadIdx.x];
}

__global__ void barrier_vote_kernel(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int count = __syncthreads_count(t % 3 == 0);
  const int any = __syncthreads_or(t == 77);
  const int all = __syncthreads_and(t >= 0);
  if (t == 0) {
    out[0] = count;
    out[1] = any;
    out[2] = all;
  }
}

// Per warp: the maximum by xor shuffles, a broadcast from lane 7, the ballot of odd lanes and any().
__global__ void warp_kernel(const int* in, int* out) {
  const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int lane = static_cast<int>(threadIdx.x % 32);
  int best = in[t];
  for (int offset = 16; offset > 0; offset >>= 1) {
    const int other = __shfl_xor_sync(kFull, best, offset);
    best = other > best ? other : best;
  }
  const int from7 = __shfl_sync(kFull, in[t], 7);
  const unsigned odd = __ballot_sync(kFull, lane % 2 == 1);
  const int any_big = __any_sync(kFull, in[t] > 1000);
  const std::int64_t wide = __shfl_down_sync(kFull, static_cast<std::int64_t>(in[t]) << 33, 1);
  out[4 * t + 0] = best;
  out[4 * t + 1] = from7;
  out[4 * t + 2] = static_cast<int>(odd == 0xaaaaaaaau) + 2 * any_big;
  out[4 * t + 3] = static_cast<int>(wide >> 33);
}

// Lane groups of width 8 (four per warp, as the auction kernel's groups per impression) that run
// apart: group g loops g + 1 rounds, so while one group waits in a shuffle of its own mask, another
// is in a vote or has left the loop. Each round: the group's maximum by xor shuffles of width 8, a
// ballot and an any() over the group's mask, and a rotation of the values one lane down the group
// (a __shfl_sync of width 8, whose source wraps inside the group), then a __syncwarp of the group.
constexpr int kGroupWidth = 8;
__global__ void lane_group_kernel(const int* in, int* out) {
  const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int lane = static_cast<int>(threadIdx.x % 32), group = lane / kGroupWidth, member = lane % kGroupWidth;
  const unsigned mask = 0xffu << (group * kGroupWidth);
  int value = in[t], max_sum = 0;
  unsigned ballot = 0;
  int any = 0;
  for (int round = 0; round <= group; ++round) {
    int best = value;
    for (int offset = kGroupWidth / 2; offset > 0; offset >>= 1) {
      const int other = __shfl_xor_sync(mask, best, offset, kGroupWidth);
      best = other > best ? other : best;
    }
    max_sum += best;
    ballot = __ballot_sync(mask, value % 2 == 1);
    any += __any_sync(mask, value > 1000);
    value = __shfl_sync(mask, value, member + 1, kGroupWidth);
    __syncwarp(mask);
  }
  // The whole warp votes: groups that left the loop early wait here while later groups still
  // shuffle in their own masks.
  const unsigned leaders = __ballot_sync(kFull, member == 0);
  if (leaders != 0x01010101u) max_sum = -1;
  out[4 * t + 0] = max_sum;
  out[4 * t + 1] = static_cast<int>(ballot);
  out[4 * t + 2] = any;
  out[4 * t + 3] = value;
}

// Xor shuffles across the width's segments: a lane reads an earlier segment's lane and keeps its own
// value for a later one (CUDA's rule for __shfl_xor_sync with width < 32).
__global__ void xor_across_segments_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  out[2 * lane + 0] = __shfl_xor_sync(kFull, 100 + lane, 8, 8);
  out[2 * lane + 1] = __shfl_xor_sync(kFull, 100 + lane, 16, 16);
}

__global__ void dynamic_shared_kernel(int* out) {
  int* s = dynamic_shared<int>();
  const int t = static_cast<int>(threadIdx.x);
  if (t == 0) out[blockIdx.x * 2] = s[5];  // never written in this block: the stale pattern
  __syncthreads();
  s[t] = t * 10 + static_cast<int>(blockIdx.x);
  __syncthreads();
  if (t == 0) out[blockIdx.x * 2 + 1] = s[blockDim.x - 1];
}

__global__ void atomic_kernel(int* counter, unsigned* bits) {
  atomicAdd(counter, 1);
  atomicOr(bits, 1u << (threadIdx.x % 32));
}

__global__ void nothing_kernel(int*) {}

__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x == 0) {
    __syncthreads();  // the other lanes of warp 0 wait for lane 0 in a shuffle instead
  } else {
    out[threadIdx.x] = __shfl_xor_sync(kFull, static_cast<int>(threadIdx.x), 1);
  }
}

__global__ void exited_lane_kernel(int* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(kFull, static_cast<int>(threadIdx.x), 1);
}

__global__ void outside_mask_kernel(int* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = __shfl_sync(0x0000ffffu, static_cast<int>(threadIdx.x), 20);
}

// Two halves of a warp in different collectives under the same (full) mask: a GPU's undefined case.
__global__ void mixed_collectives_kernel(int* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = static_cast<int>(__ballot_sync(kFull, 1));
  else out[threadIdx.x] = __shfl_xor_sync(kFull, static_cast<int>(threadIdx.x), 1);
}

}  // namespace

TEST_CASE("emulator: __syncthreads orders shared-memory writes before reads across the block", "[emulator]") {
  const int blocks = 3, threads = 128, n = blocks * threads;
  DeviceInts in(n), out(n);
  std::vector<int> host(n);
  std::iota(host.begin(), host.end(), 0);
  in.write(host);
  launch(reverse_kernel, blocks, threads, 0, nullptr, in.p, out.p);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const std::vector<int> got = out.read();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) REQUIRE(got[b * threads + t] == b * threads + threads - 1 - t);
}

TEST_CASE("emulator: __syncthreads_count / _or / _and", "[emulator]") {
  DeviceInts out(3);
  launch(barrier_vote_kernel, 1, 256, 0, nullptr, out.p);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  CHECK(out.read() == std::vector<int>{86, 1, 1});  // 0, 3, ..., 255: 86 multiples of 3
}

TEST_CASE("emulator: warp shuffles and votes", "[emulator]") {
  const int n = 64;
  DeviceInts in(n), out(4 * n);
  std::vector<int> host(n);
  for (int t = 0; t < n; ++t) host[t] = (t * 37) % 101 + (t == 40 ? 5000 : 0);
  in.write(host);
  launch(warp_kernel, 1, n, 0, nullptr, in.p, out.p);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const std::vector<int> got = out.read();
  for (int t = 0; t < n; ++t) {
    const int warp = t / 32, lane = t % 32;
    int best = 0;
    for (int l = 0; l < 32; ++l) best = std::max(best, host[warp * 32 + l]);
    INFO("thread " << t);
    CHECK(got[4 * t + 0] == best);
    CHECK(got[4 * t + 1] == host[warp * 32 + 7]);
    CHECK(got[4 * t + 2] == 1 + 2 * (warp == 1));
    CHECK(got[4 * t + 3] == host[lane < 31 ? t + 1 : t]);  // the last lane keeps its own value
  }
}

TEST_CASE("emulator: lane groups of one warp run their own shuffles and votes apart, then meet in a warp vote",
          "[emulator]") {
  const int n = 64;
  DeviceInts in(n), out(4 * n);
  std::vector<int> host(n);
  for (int t = 0; t < n; ++t) host[t] = (t * 53) % 97 + (t == 45 ? 4000 : 0);
  in.write(host);
  launch(lane_group_kernel, 1, n, 0, nullptr, in.p, out.p);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const std::vector<int> got = out.read();
  for (int first = 0; first < n; first += kGroupWidth) {
    const int group = (first % 32) / kGroupWidth;
    // The group's values, rotated one member down per round, as the kernel does.
    std::vector<int> values(host.begin() + first, host.begin() + first + kGroupWidth);
    int max_sum = 0, any = 0;
    unsigned ballot = 0;
    for (int round = 0; round <= group; ++round) {
      max_sum += *std::max_element(values.begin(), values.end());
      ballot = 0;
      for (int m = 0; m < kGroupWidth; ++m)
        if (values[m] % 2 == 1) ballot |= 1u << (first % 32 + m);
      any += *std::max_element(values.begin(), values.end()) > 1000;
      std::rotate(values.begin(), values.begin() + 1, values.end());
    }
    for (int m = 0; m < kGroupWidth; ++m) {
      const int t = first + m;
      INFO("thread " << t);
      CHECK(got[4 * t + 0] == max_sum);
      CHECK(static_cast<unsigned>(got[4 * t + 1]) == ballot);
      CHECK(got[4 * t + 2] == any);
      CHECK(got[4 * t + 3] == values[m]);
    }
  }
}

TEST_CASE("emulator: xor shuffles of width < 32 read earlier segments, not later ones", "[emulator]") {
  DeviceInts out(64);
  launch(xor_across_segments_kernel, 1, 32, 0, nullptr, out.p);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const std::vector<int> got = out.read();
  for (int lane = 0; lane < 32; ++lane) {
    INFO("lane " << lane);
    CHECK(got[2 * lane + 0] == 100 + ((lane & 8) ? lane ^ 8 : lane));
    CHECK(got[2 * lane + 1] == 100 + ((lane & 16) ? lane ^ 16 : lane));
  }
}

TEST_CASE("emulator: dynamic shared memory starts stale in every block", "[emulator]") {
  const int blocks = 2, threads = 64;
  DeviceInts out(2 * blocks);
  launch(dynamic_shared_kernel, blocks, threads, threads * sizeof(int), nullptr, out.p);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  int stale;
  std::memset(&stale, 0xCD, sizeof stale);
  CHECK(out.read() == std::vector<int>{stale, 630, stale, 631});
}

// Thread 0 reads its block's static shared word before anything wrote it (the bug the emulator must
// expose), then writes it; thread 1 reads it after the barrier.
__global__ void static_shared_kernel(int* out) {
  BIDSIM_SHARED(int[2], words);
  if (threadIdx.x == 0) {
    out[blockIdx.x] = words[0];
    words[0] = 600 + static_cast<int>(blockIdx.x);
  }
  __syncthreads();
  if (threadIdx.x == 1) out[gridDim.x + blockIdx.x] = words[0];
}

TEST_CASE("emulator: static shared memory starts stale in every block", "[emulator]") {
  const int blocks = 3;
  DeviceInts out(2 * blocks);
  launch(static_shared_kernel, blocks, 32, 0, nullptr, out.p);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  int stale;
  std::memset(&stale, 0xCD, sizeof stale);
  // Each block finds the pattern, not zeros (the first) nor the previous block's 600 + b (the others).
  CHECK(out.read() == std::vector<int>{stale, stale, stale, 600, 601, 602});
}

TEST_CASE("emulator: atomics from every thread of every block", "[emulator]") {
  DeviceInts counter(2);
  counter.write({0, 0});
  launch(atomic_kernel, 5, 96, 0, nullptr, counter.p, reinterpret_cast<unsigned*>(counter.p + 1));
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const std::vector<int> got = counter.read();
  CHECK(got[0] == 480);
  CHECK(static_cast<unsigned>(got[1]) == 0xffffffffu);
}

TEST_CASE("emulator: launch configurations a GPU refuses are refused", "[emulator]") {
  DeviceInts out(1);
  launch(nothing_kernel, 0, 32, 0, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  launch(nothing_kernel, 1, 2048, 0, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  launch(nothing_kernel, dim3(1, 70000), 32, 0, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  // Above 48 KB of dynamic shared memory only after raising the kernel's limit.
  launch(nothing_kernel, 1, 32, 64 * 1024, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  REQUIRE(cudaFuncSetAttribute(nothing_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) == cudaSuccess);
  launch(nothing_kernel, 1, 32, 64 * 1024, nullptr, out.p);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(cudaFuncSetAttribute(nothing_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 1 << 20) ==
        cudaErrorInvalidValue);
  cudaGetLastError();
  CHECK(cudaDeviceSynchronize() == cudaSuccess);  // refusals are not sticky
}

TEST_CASE("emulator: a deadlocked block is a launch failure, not a hang", "[emulator]") {
  DeviceInts out(64);
  launch(deadlock_kernel, 1, 64, 0, nullptr, out.p);
  expect_launch_failure();
}

TEST_CASE("emulator: a shuffle whose mask names an exited lane is a launch failure", "[emulator]") {
  DeviceInts out(32);
  launch(exited_lane_kernel, 1, 32, 0, nullptr, out.p);
  expect_launch_failure();
}

TEST_CASE("emulator: a shuffle from a lane outside the mask is a launch failure", "[emulator]") {
  DeviceInts out(32);
  launch(outside_mask_kernel, 1, 32, 0, nullptr, out.p);
  expect_launch_failure();
}

TEST_CASE("emulator: lanes in different collectives under one mask are a launch failure", "[emulator]") {
  DeviceInts out(32);
  launch(mixed_collectives_kernel, 1, 32, 0, nullptr, out.p);
  expect_launch_failure();
}

TEST_CASE("emulator: copies must stay inside device allocations and name the right side", "[emulator]") {
  DeviceInts d(8);
  std::vector<int> host(16, 1);
  CHECK(cudaMemcpy(d.p, host.data(), 8 * sizeof(int), cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK(cudaMemcpy(d.p, host.data(), 9 * sizeof(int), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(host.data(), d.p + 4, 5 * sizeof(int), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(host.data(), d.p, sizeof(int), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemsetAsync(d.p + 1, 0, 8 * sizeof(int), nullptr) == cudaErrorInvalidValue);
  CHECK(cudaFree(host.data()) == cudaErrorInvalidDevicePointer);
  cudaGetLastError();
  // cudaMalloc leaves memory stale, as a GPU does.
  std::vector<int> fresh(8);
  DeviceInts other(8);
  REQUIRE(cudaMemcpy(fresh.data(), other.p, 8 * sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess);
  int stale;
  std::memset(&stale, 0xCD, sizeof stale);
  CHECK(fresh == std::vector<int>(8, stale));
}
