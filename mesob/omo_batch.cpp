// The OMO batch engines (omo_batch.hpp): the host reference and the factory of the CUDA one. The one
// mesob file that knows whether the CUDA backend was built (`#ifdef BIDSIM_HAVE_CUDA`).
#include "mesob/omo_batch.hpp"

#include <omp.h>

#include <algorithm>

#include "engine/core/device_choice.hpp"
#include "engine/core/errors.hpp"

#ifdef BIDSIM_HAVE_CUDA
#include "cuda/mesob_batch.hpp"
#endif

namespace bidsim::mesob {

namespace {

// Every configuration starts where solve() starts: the uniform policy's flow.
std::vector<double> initial_d(const AuctionGame& game) { return population_flow(game, uniform_policy(game)); }

// B omo_state blocks in one host buffer, laid out as the device batch lays them out.
class HostOmoBatch final : public OmoBatchEngine {
 public:
  HostOmoBatch(const AuctionGame& game, const std::vector<OmoStepConfig>& configs, int threads)
      : problem_(omo_problem(game)), configs_(configs), threads_(threads > 0 ? threads : omp_get_max_threads()),
        stride_(omo_state_size(problem_)), states_(stride_ * configs.size(), 0.0) {
    const std::vector<double> d0 = initial_d(game);
    for (std::size_t b = 0; b < configs_.size(); ++b) std::copy(d0.begin(), d0.end(), state(b).d);
  }

  const char* name() const override { return "host"; }
  int size() const override { return static_cast<int>(configs_.size()); }

  void advance(int first, int steps) override {
    const int n = size();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
    for (int b = 0; b < n; ++b) omo_advance(SerialLanes{}, problem_, configs_[b], state(b), first, steps);
  }

  void read(std::vector<double>& d, std::vector<OmoTerms>& terms) override {
    const std::size_t nd = d_size();
    d.resize(nd * configs_.size());
    terms.resize(configs_.size());
    const int n = size();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
    for (int b = 0; b < n; ++b) {
      const OmoState s = state(b);
      terms[b] = omo_terms(SerialLanes{}, problem_, configs_[b], s);
      std::copy(s.d, s.d + nd, d.begin() + b * nd);
    }
  }

  void read_iterates(std::vector<double>& y, std::vector<double>& z, std::vector<double>& d) override {
    const std::size_t ny = static_cast<std::size_t>(problem_.slices) * problem_.states, nd = d_size();
    y.resize(ny * configs_.size());
    z.resize(nd * configs_.size());
    d.resize(nd * configs_.size());
    for (std::size_t b = 0; b < configs_.size(); ++b) {
      const OmoState s = state(b);
      std::copy(s.y, s.y + ny, y.begin() + b * ny);
      std::copy(s.z, s.z + nd, z.begin() + b * nd);
      std::copy(s.d, s.d + nd, d.begin() + b * nd);
    }
  }

 private:
  std::size_t d_size() const { return static_cast<std::size_t>(problem_.slices) * problem_.pairs; }
  OmoState state(std::size_t b) { return omo_state(problem_, states_.data() + b * stride_); }

  OmoProblem problem_;
  std::vector<OmoStepConfig> configs_;
  int threads_;
  std::size_t stride_;
  std::vector<double> states_;  // [B][omo_state_size]
};

#ifdef BIDSIM_HAVE_CUDA
class CudaOmoBatch final : public OmoBatchEngine {
 public:
  CudaOmoBatch(const AuctionGame& game, const std::vector<OmoStepConfig>& configs)
      : batch_(omo_problem(game), configs, initial_d(game)) {}
  const char* name() const override { return "cuda"; }
  int size() const override { return batch_.size(); }
  void advance(int first, int steps) override { batch_.advance(first, steps); }
  void read(std::vector<double>& d, std::vector<OmoTerms>& terms) override { batch_.read(d, terms); }
  void read_iterates(std::vector<double>& y, std::vector<double>& z, std::vector<double>& d) override {
    batch_.read_iterates(y, z, d);
  }

 private:
  cuda::MesobBatch batch_;
};
#endif

}  // namespace

std::unique_ptr<OmoBatchEngine> make_host_omo_batch(const AuctionGame& game, const std::vector<OmoStepConfig>& configs,
                                                    int threads) {
  return std::make_unique<HostOmoBatch>(game, configs, threads);
}

std::unique_ptr<OmoBatchEngine> make_cuda_omo_batch(const AuctionGame& game, const std::vector<OmoStepConfig>& configs) {
  require_cuda_device("--device cuda");  // without the backend it throws, so only CUDA builds go on
#ifdef BIDSIM_HAVE_CUDA
  return std::make_unique<CudaOmoBatch>(game, configs);
#else
  (void)game;
  (void)configs;
  throw std::logic_error("make_cuda_omo_batch: require_cuda_device passed in a build without CUDA");
#endif
}

}  // namespace bidsim::mesob
