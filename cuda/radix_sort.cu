// CUB DeviceRadixSort::SortPairs<uint64_t, uint32_t>, the backend's only CUB instantiation.
#include "cuda/radix_sort.cuh"

#include <cub/device/device_radix_sort.cuh>

#include "cuda/check.cuh"

namespace bidsim::cuda {

std::size_t radix_sort_scratch_bytes(std::int64_t items) {
  std::size_t bytes = 0;
  BIDSIM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const std::uint64_t*>(nullptr),
                                                    static_cast<std::uint64_t*>(nullptr),
                                                    static_cast<const std::uint32_t*>(nullptr),
                                                    static_cast<std::uint32_t*>(nullptr),
                                                    static_cast<int>(items), 0, 64));
  return bytes;
}

void radix_sort_pairs(void* scratch, std::size_t scratch_bytes, const std::uint64_t* keys_in,
                      std::uint64_t* keys_out, const std::uint32_t* values_in, std::uint32_t* values_out,
                      std::int64_t items, int begin_bit, int end_bit, cudaStream_t stream) {
  if (items == 0) return;
  std::size_t bytes = scratch_bytes;
  BIDSIM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(scratch, bytes, keys_in, keys_out, values_in, values_out,
                                                    static_cast<int>(items), begin_bit, end_bit, stream));
}

}  // namespace bidsim::cuda
