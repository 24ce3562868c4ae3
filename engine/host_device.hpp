// Host+device function marker shared by the CPU backend (g++) and the CUDA backend (nvcc).
// CCCL does not give g++ __host__/__device__, so the physics headers use this macro instead.
#pragma once

#ifdef __CUDACC__
#define BIDSIM_HD __host__ __device__ __forceinline__
#else
#define BIDSIM_HD inline
#endif
