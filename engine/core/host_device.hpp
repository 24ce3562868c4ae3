// Host+device function marker shared by the CPU backend (g++) and the CUDA backend (nvcc).
// CCCL does not give g++ __host__/__device__, so the physics headers use this macro instead.
#pragma once

#ifdef __CUDACC__
// The shared physics must round on the device exactly as g++ rounds on the host: nvcc's default
// contracts a * b + c into one FMA, which rounds once instead of twice. --fmad=false is a per-target
// flag, so a CUDA target that forgets it would contract silently; cuda/CMakeLists.txt defines this
// macro next to the flag, and any CUDA compilation of these headers without it stops here.
#ifndef BIDSIM_CUDA_NO_FMA_CONTRACTION
#error "engine/core/host_device.hpp in CUDA code: compile with --fmad=false -DBIDSIM_CUDA_NO_FMA_CONTRACTION (see cuda/CMakeLists.txt), or the device physics rounds differently from the CPU backend's"
#endif
#define BIDSIM_HD __host__ __device__ __forceinline__
#else
#define BIDSIM_HD inline
#endif
