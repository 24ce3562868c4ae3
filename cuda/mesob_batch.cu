// Batched MESOB-OMO on the device (paper §2.2): one thread per configuration runs mesob::omo_advance,
// the same host+device step the CPU solvers run, on its own contiguous omo_state block.
#include "cuda/mesob_batch.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/check.cuh"
#include "cuda/cuda_context.cuh"
#include "cuda/device_buffer.cuh"
#include "cuda/launch.cuh"

namespace bidsim::cuda {

namespace {

using mesob::OmoProblem;
using mesob::OmoStepConfig;
using mesob::OmoTerms;

// Upper bound on configurations (threads) per block. Below it the launcher spreads the batch over
// every SM (about B / SMs threads per block): each thread is a long serial loop over its own ~22 KB
// state (paper game), so threads gain from having an SM's L1 to few of them, not from sharing a warp.
constexpr int kMaxConfigsPerBlock = 32;
// Each configuration's state block starts on a 128-byte line.
constexpr std::size_t kStateAlignDoubles = 16;

// ---- kernels -----------------------------------------------------------------------------------

// Steps first + 1 .. first + steps of configuration b = the thread's global index.
__global__ void omo_advance_kernel(OmoProblem problem, const OmoStepConfig* configs, double* states,
                                   std::size_t stride, int count, int first, int steps) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= count) return;
  const mesob::OmoState state = mesob::omo_state(problem, states + static_cast<std::size_t>(b) * stride);
  mesob::omo_advance(problem, configs[b], state, first, steps);
}

// f^MESOB-OMO's terms at configuration b's current iterate (the value the CPU solver records).
__global__ void omo_terms_kernel(OmoProblem problem, const OmoStepConfig* configs, double* states,
                                 std::size_t stride, int count, OmoTerms* terms) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= count) return;
  const mesob::OmoState state = mesob::omo_state(problem, states + static_cast<std::size_t>(b) * stride);
  terms[b] = mesob::omo_terms(problem, configs[b], state);
}

template <class T>
void upload_array(DeviceBuffer<T>& buffer, const T* host, std::size_t count, cudaStream_t stream) {
  buffer.resize(count);
  buffer.upload(host, count, stream);
}

}  // namespace

// ---- launchers ---------------------------------------------------------------------------------

struct MesobBatch::Impl {
  CudaContext context;
  OmoProblem problem;  // the host problem with its pointers replaced by the device copies below
  int count = 0;       // B configurations
  int block = 1;       // threads per block
  std::size_t stride = 0, ny = 0, nd = 0;            // doubles per state block, |y|, |d|
  std::size_t y_offset = 0, z_offset = 0, d_offset = 0;  // within a state block
  DeviceBuffer<double> ctr, value, bid, score, tie_coef, transition, mu0;
  DeviceBuffer<int> pair_score;
  DeviceBuffer<OmoStepConfig> configs;
  DeviceBuffer<double> states;  // [B][stride]: omo_state blocks (y, z, d, gradients, moments, scratch)
  DeviceBuffer<OmoTerms> terms;  // [B]

  int grid() const { return (count + block - 1) / block; }
};

MesobBatch::MesobBatch(const OmoProblem& host, const std::vector<OmoStepConfig>& configs,
                       const std::vector<double>& initial_d)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  const cudaStream_t stream = m.context.stream();
  m.count = static_cast<int>(configs.size());
  m.ny = static_cast<std::size_t>(host.slices) * host.states;
  m.nd = static_cast<std::size_t>(host.slices) * host.pairs;
  if (initial_d.size() != m.nd)
    throw std::invalid_argument("MesobBatch: initial_d has " + std::to_string(initial_d.size()) + " entries, expected " +
                                std::to_string(m.nd) + " ((T+1) x S x A)");

  // The game's arrays, once.
  const std::size_t S = host.states, A = host.actions, SA = host.pairs, T = host.slices - 1;
  upload_array(m.ctr, host.auction.ctr, S, stream);
  upload_array(m.value, host.auction.value, S, stream);
  upload_array(m.bid, host.auction.bid, A, stream);
  upload_array(m.score, host.auction.score, static_cast<std::size_t>(host.scores), stream);
  upload_array(m.pair_score, host.auction.pair_score, SA, stream);
  upload_array(m.tie_coef, host.auction.tie_coef, static_cast<std::size_t>(host.auction.bidders), stream);
  upload_array(m.transition, host.transition, T * SA * S, stream);
  upload_array(m.mu0, host.mu0, S, stream);
  m.problem = host;
  m.problem.auction.ctr = m.ctr.data();
  m.problem.auction.value = m.value.data();
  m.problem.auction.bid = m.bid.data();
  m.problem.auction.score = m.score.data();
  m.problem.auction.pair_score = m.pair_score.data();
  m.problem.auction.tie_coef = m.tie_coef.data();
  m.problem.transition = m.transition.data();
  m.problem.mu0 = m.mu0.data();
  upload_array(m.configs, configs.data(), configs.size(), stream);

  // Per-configuration state: zero, then d = initial_d in every block (one strided copy).
  const std::size_t size = mesob::omo_state_size(m.problem);
  m.stride = (size + kStateAlignDoubles - 1) / kStateAlignDoubles * kStateAlignDoubles;
  m.states.resize(m.stride * configs.size());
  m.terms.resize(configs.size());
  int sms = 1;
  BIDSIM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, m.context.device()));
  // No shared memory is used: ask for the whole L1/shared array as L1, where the states live.
  BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(omo_advance_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                         cudaSharedmemCarveoutMaxL1));
  BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(omo_terms_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                         cudaSharedmemCarveoutMaxL1));
  m.block = std::clamp((m.count + sms - 1) / std::max(sms, 1), 1, kMaxConfigsPerBlock);
  if (m.count == 0) return;
  const mesob::OmoState s0 = mesob::omo_state(m.problem, m.states.data());
  m.y_offset = static_cast<std::size_t>(s0.y - m.states.data());
  m.z_offset = static_cast<std::size_t>(s0.z - m.states.data());
  m.d_offset = static_cast<std::size_t>(s0.d - m.states.data());
  m.states.zero(stream);
  std::vector<double> replicated(m.nd * configs.size());
  for (std::size_t b = 0; b < configs.size(); ++b) std::copy(initial_d.begin(), initial_d.end(), replicated.begin() + b * m.nd);
  BIDSIM_CUDA_CHECK(cudaMemcpy2DAsync(m.states.data() + m.d_offset, m.stride * sizeof(double), replicated.data(),
                                      m.nd * sizeof(double), m.nd * sizeof(double), configs.size(),
                                      cudaMemcpyHostToDevice, stream));
  m.context.synchronize();  // `replicated` and the caller's arrays may go away after return
}

MesobBatch::~MesobBatch() = default;
MesobBatch::MesobBatch(MesobBatch&&) noexcept = default;
MesobBatch& MesobBatch::operator=(MesobBatch&&) noexcept = default;

int MesobBatch::size() const { return impl_->count; }

void MesobBatch::advance(int first, int steps) {
  Impl& m = *impl_;
  if (m.count == 0 || steps <= 0) return;
  if (first < 0) throw std::invalid_argument("MesobBatch::advance: first = " + std::to_string(first) + ", expected >= 0");
  launch(omo_advance_kernel, m.grid(), m.block, 0, m.context.stream(), m.problem, m.configs.data(), m.states.data(), m.stride,
                                                                  m.count, first, steps);
  BIDSIM_CUDA_CHECK_LAUNCH("omo_advance_kernel");
}

void MesobBatch::read(std::vector<double>& d, std::vector<OmoTerms>& terms) {
  Impl& m = *impl_;
  d.resize(m.nd * m.count);
  terms.resize(m.count);
  if (m.count == 0) return;
  const cudaStream_t stream = m.context.stream();
  launch(omo_terms_kernel, m.grid(), m.block, 0, stream, m.problem, m.configs.data(), m.states.data(), m.stride, m.count,
                                                     m.terms.data());
  BIDSIM_CUDA_CHECK_LAUNCH("omo_terms_kernel");
  m.terms.download(terms.data(), terms.size(), stream);
  BIDSIM_CUDA_CHECK(cudaMemcpy2DAsync(d.data(), m.nd * sizeof(double), m.states.data() + m.d_offset,
                                      m.stride * sizeof(double), m.nd * sizeof(double), m.count,
                                      cudaMemcpyDeviceToHost, stream));
  m.context.synchronize();
}

void MesobBatch::read_iterates(std::vector<double>& y, std::vector<double>& z, std::vector<double>& d) {
  Impl& m = *impl_;
  y.resize(m.ny * m.count);
  z.resize(m.nd * m.count);
  d.resize(m.nd * m.count);
  if (m.count == 0) return;
  const cudaStream_t stream = m.context.stream();
  const auto strided = [&](double* host, std::size_t width, std::size_t offset) {
    BIDSIM_CUDA_CHECK(cudaMemcpy2DAsync(host, width * sizeof(double), m.states.data() + offset, m.stride * sizeof(double),
                                        width * sizeof(double), m.count, cudaMemcpyDeviceToHost, stream));
  };
  strided(y.data(), m.ny, m.y_offset);
  strided(z.data(), m.nd, m.z_offset);
  strided(d.data(), m.nd, m.d_offset);
  m.context.synchronize();
}

void MesobBatch::synchronize() { impl_->context.synchronize(); }

}  // namespace bidsim::cuda
