// Batched MESOB-OMO on the device (paper §2.2): one warp per configuration runs mesob::omo_advance,
// the same host+device step the CPU solvers run, with its 32 lanes splitting the configuration's vector
// work (WarpLanes below; the CPU runs SerialLanes, the same order of operations on one thread) and the
// configuration's state in shared memory where it fits. Design: docs/gpu-design.md, item 5.
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

using mesob::kOmoLanes;
using mesob::OmoProblem;
using mesob::OmoStepConfig;
using mesob::OmoTerms;

// Each configuration's state block starts on a 128-byte line.
constexpr std::size_t kStateAlignDoubles = 16;
constexpr unsigned kFullWarp = 0xffffffffu;

// The device's lane policy (the contract is SerialLanes' in mesob/omo_kernel.hpp): lane l takes the
// indices i ≡ l (mod 32), so a warp's 32 accesses to one vector are adjacent (coalesced in global
// memory, conflict-free in shared memory). A sum's additions run on lane 0 alone (the serial order the
// CPU uses), its value shuffled to the other lanes; a max folds the lanes' partials by the xor butterfly
// and takes lane 0's value.
struct WarpLanes {
  int lane;
  __device__ __forceinline__ bool leader() const { return lane == 0; }
  __device__ __forceinline__ void sync() const { __syncwarp(); }
  template <class F>
  __device__ __forceinline__ void each(std::size_t n, F&& f) const {
    for (std::size_t i = lane; i < n; i += kOmoLanes) f(i);
    __syncwarp();
  }
  template <class F>
  __device__ __forceinline__ void each2(std::size_t rows, std::size_t cols, F&& f) const {
    each(rows * cols, [&](std::size_t i) { f(i / cols, i % cols, i); });
  }
  template <class F>
  __device__ __forceinline__ double sum(std::size_t n, double* buffer, F&& f) const {
    each(n, [&](std::size_t i) { buffer[i] = f(i); });
    return ordered_sum(buffer, n);
  }
  template <class F>
  __device__ __forceinline__ double sum2(std::size_t rows, std::size_t cols, double* buffer, F&& f) const {
    each2(rows, cols, [&](std::size_t r, std::size_t c, std::size_t i) { buffer[i] = f(r, c, i); });
    return ordered_sum(buffer, rows * cols);
  }
  template <class F>
  __device__ __forceinline__ double max_of(std::size_t n, F&& f) const {
    double acc = 0;
    for (std::size_t i = lane; i < n; i += kOmoLanes) acc = mesob::omo_max(acc, f(i));
    for (int width = kOmoLanes / 2; width > 0; width /= 2)
      acc = mesob::omo_max(acc, __shfl_xor_sync(kFullWarp, acc, width));
    return __shfl_sync(kFullWarp, acc, 0);
  }

 private:
  // v[0] + … + v[n−1] on lane 0 (the serial order), its value on every lane.
  __device__ __forceinline__ double ordered_sum(const double* v, std::size_t n) const {
    double total = 0;
    if (lane == 0)
      for (std::size_t i = 0; i < n; ++i) total += v[i];
    return __shfl_sync(kFullWarp, total, 0);
  }
};
static_assert(kOmoLanes == 32, "WarpLanes is one warp");

// ---- kernels (one block = one warp = one configuration) ---------------------------------------

// Steps first + 1 .. first + steps of configuration b = blockIdx.x. With `persistent` > 0 the state's
// first `persistent` doubles (everything a step carries to the next: x, gradients, moments, line-search
// buffers, info, multipliers) are copied into dynamic shared memory, stepped there and copied back;
// the scratch and workspace behind them are rewritten before every read, so they live in shared
// memory without a copy. With `persistent` == 0 the state is stepped in place in global memory.
__global__ void __launch_bounds__(kOmoLanes) omo_advance_kernel(OmoProblem problem, const OmoStepConfig* configs,
                                                                double* states, std::size_t stride,
                                                                std::size_t persistent, int first, int steps) {
  const int b = blockIdx.x;
  const WarpLanes lanes{static_cast<int>(threadIdx.x)};
  double* const global = states + static_cast<std::size_t>(b) * stride;
  double* work = global;
  if (persistent > 0) {
    work = dynamic_shared<double>();
    lanes.each(persistent, [&](std::size_t i) { work[i] = global[i]; });
  }
  const mesob::OmoState state = mesob::omo_state(problem, work);
  mesob::omo_advance(lanes, problem, configs[b], state, first, steps);
  if (persistent > 0) lanes.each(persistent, [&](std::size_t i) { global[i] = work[i]; });
}

// f^MESOB-OMO's terms at configuration b's current iterate (the value the CPU solver records); once per
// record point, in place in global memory.
__global__ void __launch_bounds__(kOmoLanes) omo_terms_kernel(OmoProblem problem, const OmoStepConfig* configs,
                                                              double* states, std::size_t stride, OmoTerms* terms) {
  const int b = blockIdx.x;
  const WarpLanes lanes{static_cast<int>(threadIdx.x)};
  const mesob::OmoState state = mesob::omo_state(problem, states + static_cast<std::size_t>(b) * stride);
  const OmoTerms t = mesob::omo_terms(lanes, problem, configs[b], state);
  if (lanes.leader()) terms[b] = t;
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
  int count = 0;       // B configurations (blocks of one warp)
  std::size_t stride = 0, ny = 0, nd = 0;            // doubles per state block, |y|, |d|
  // Doubles of a state the advance kernel copies to shared memory and back (0: the state does not fit
  // the block's shared memory and is stepped in global memory), and the shared bytes it launches with.
  std::size_t persistent = 0, shared_bytes = 0;
  std::size_t y_offset = 0, z_offset = 0, d_offset = 0;  // within a state block
  DeviceBuffer<double> ctr, value, bid, score, tie_coef, transition, mu0;
  DeviceBuffer<int> pair_score;
  DeviceBuffer<OmoStepConfig> configs;
  DeviceBuffer<double> states;  // [B][stride]: omo_state blocks (y, z, d, gradients, moments, scratch)
  DeviceBuffer<OmoTerms> terms;  // [B]
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
  // The whole state (persistent part, scratch, workspace) in dynamic shared memory when it fits one
  // block's opt-in maximum (227 KB on an H100/H200; the paper game's state is a few tens of KB). The
  // kernel's limit is raised to the device maximum, not to this batch's size, so a second batch with
  // a smaller state never lowers it under the first (the attribute is process-wide).
  int shared_optin = 0;
  BIDSIM_CUDA_CHECK(cudaDeviceGetAttribute(&shared_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, m.context.device()));
  if (size * sizeof(double) <= static_cast<std::size_t>(shared_optin)) {
    m.shared_bytes = size * sizeof(double);
    BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(omo_advance_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_optin));
    BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(omo_advance_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                           cudaSharedmemCarveoutMaxShared));
  } else {
    // Stepped in global memory: ask for the whole L1/shared array as L1, where the state's lines live.
    BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(omo_advance_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                           cudaSharedmemCarveoutMaxL1));
  }
  BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(omo_terms_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                         cudaSharedmemCarveoutMaxL1));
  if (m.count == 0) return;
  const mesob::OmoState s0 = mesob::omo_state(m.problem, m.states.data());
  m.y_offset = static_cast<std::size_t>(s0.y - m.states.data());
  m.z_offset = static_cast<std::size_t>(s0.z - m.states.data());
  m.d_offset = static_cast<std::size_t>(s0.d - m.states.data());
  if (m.shared_bytes > 0) m.persistent = static_cast<std::size_t>(s0.scratch - m.states.data());
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
  launch(omo_advance_kernel, m.count, kOmoLanes, m.shared_bytes, m.context.stream(), m.problem, m.configs.data(),
         m.states.data(), m.stride, m.persistent, first, steps);
  BIDSIM_CUDA_CHECK_LAUNCH("omo_advance_kernel");
}

void MesobBatch::read(std::vector<double>& d, std::vector<OmoTerms>& terms) {
  Impl& m = *impl_;
  d.resize(m.nd * m.count);
  terms.resize(m.count);
  if (m.count == 0) return;
  const cudaStream_t stream = m.context.stream();
  launch(omo_terms_kernel, m.count, kOmoLanes, 0, stream, m.problem, m.configs.data(), m.states.data(), m.stride,
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
