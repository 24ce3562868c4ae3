// The one CUB instantiation of the backend: a stable radix sort of (uint64 key, uint32 index) pairs
// over a bit range. Kept in its own .cu (radix_sort.cu) because CUB sorts compile slowly.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace bidsim::cuda {

// Scratch bytes a sort of up to `items` pairs needs.
std::size_t radix_sort_scratch_bytes(std::int64_t items);

// Stable: equal keys keep their input order. Sorts bits [begin_bit, end_bit) of the keys.
void radix_sort_pairs(void* scratch, std::size_t scratch_bytes, const std::uint64_t* keys_in,
                      std::uint64_t* keys_out, const std::uint32_t* values_in, std::uint32_t* values_out,
                      std::int64_t items, int begin_bit, int end_bit, cudaStream_t stream);

}  // namespace bidsim::cuda
