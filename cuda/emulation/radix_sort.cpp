// radix_sort.cuh for the emulation build: the stable sort CUB's DeviceRadixSort::SortPairs performs
// (full keys moved, ordered by bits [begin_bit, end_bit) only, equal keys in input order), done on
// the host through checked copies, so a wrong pointer or length faults here as it would on a GPU.
#include "cuda/radix_sort.cuh"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "cuda/check.cuh"

namespace bidsim::cuda {

std::size_t radix_sort_scratch_bytes(std::int64_t items) {
  // CUB's double buffers plus its histograms: about one more copy of the pairs.
  return static_cast<std::size_t>(items) * (sizeof(std::uint64_t) + sizeof(std::uint32_t)) + 4096;
}

void radix_sort_pairs(void* scratch, std::size_t scratch_bytes, const std::uint64_t* keys_in,
                      std::uint64_t* keys_out, const std::uint32_t* values_in, std::uint32_t* values_out,
                      std::int64_t items, int begin_bit, int end_bit, cudaStream_t stream) {
  if (items == 0) return;
  if (begin_bit < 0 || end_bit > 64 || begin_bit >= end_bit || scratch_bytes < radix_sort_scratch_bytes(items))
    BIDSIM_CUDA_CHECK(cudaErrorInvalidValue);  // what cub::DeviceRadixSort returns for these
  // The sort needs no scratch here, but CUB would write all of it: its last byte must be device memory.
  std::vector<unsigned char> scratch_probe(1);
  BIDSIM_CUDA_CHECK(cudaMemcpyAsync(scratch_probe.data(), static_cast<const unsigned char*>(scratch) + scratch_bytes - 1,
                                    1, cudaMemcpyDeviceToHost, stream));
  const std::size_t n = static_cast<std::size_t>(items);
  std::vector<std::uint64_t> keys(n);
  std::vector<std::uint32_t> values(n), order(n);
  BIDSIM_CUDA_CHECK(cudaMemcpyAsync(keys.data(), keys_in, n * sizeof(std::uint64_t), cudaMemcpyDeviceToHost, stream));
  BIDSIM_CUDA_CHECK(cudaMemcpyAsync(values.data(), values_in, n * sizeof(std::uint32_t), cudaMemcpyDeviceToHost, stream));
  const int width = end_bit - begin_bit;
  const std::uint64_t mask = width == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1;
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return ((keys[a] >> begin_bit) & mask) < ((keys[b] >> begin_bit) & mask);
  });
  std::vector<std::uint64_t> sorted_keys(n);
  std::vector<std::uint32_t> sorted_values(n);
  for (std::size_t k = 0; k < n; ++k) {
    sorted_keys[k] = keys[order[k]];
    sorted_values[k] = values[order[k]];
  }
  BIDSIM_CUDA_CHECK(cudaMemcpyAsync(keys_out, sorted_keys.data(), n * sizeof(std::uint64_t), cudaMemcpyHostToDevice, stream));
  BIDSIM_CUDA_CHECK(cudaMemcpyAsync(values_out, sorted_values.data(), n * sizeof(std::uint32_t), cudaMemcpyHostToDevice, stream));
}

}  // namespace bidsim::cuda
