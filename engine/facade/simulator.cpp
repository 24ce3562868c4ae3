// Backend factory: builds the backend device_choice.hpp chose (`#ifdef BIDSIM_HAVE_CUDA` only to reach cuda/).
#include "engine/facade/simulator.hpp"

#include "engine/cpu/cpu_backend.hpp"

#ifdef BIDSIM_HAVE_CUDA
#include "cuda/cuda_backend.hpp"
#endif

namespace bidsim {

namespace {

// `cuda` builds the CUDA backend or says plainly why it cannot; `auto` picks it when this build has
// it and a device is present, else the CPU backend (choose_device, device_choice.hpp).
std::unique_ptr<Backend> make_backend(const Scenario& scenario, Device device, int threads) {
#ifdef BIDSIM_HAVE_CUDA
  if (choose_device(device) == Device::cuda) return cuda::make_cuda_backend(scenario);
#else
  (void)choose_device(device);  // refuses cuda with the one message
#endif
  return make_cpu_backend(scenario, threads);
}

}  // namespace

Simulator::Simulator(const Scenario& scenario, Device device, int threads)
    : scenario_(scenario), threads_(threads), backend_(make_backend(scenario_, device, threads)) {}

Simulator::~Simulator() = default;

void Simulator::reset(std::uint64_t episode) {
  // Draws key the global environment episode x E + e into 24 bits of the Philox counter.
  const std::uint64_t last_env = (episode + 1) * static_cast<std::uint64_t>(scenario_.market.batch_envs());
  if (last_env > (1u << 24))
    throw UsageError("Simulator::reset: episode " + std::to_string(episode) + " with " +
                     std::to_string(scenario_.market.batch_envs()) + " environments exceeds 2^24 environment draws");
  backend_->reset(episode);
}

void Simulator::step(const float* multipliers) {
  if (done()) throw std::logic_error("Simulator::step: the episode is over; call reset()");
  backend_->step(multipliers);
}

std::vector<std::int64_t> Simulator::next_step_rows() const {
  const int t = backend_->step_index() < scenario_.market.steps ? backend_->step_index() : 0;
  return step_row_offsets(backend_->impressions_per_step(), scenario_.market.envs, scenario_.market.steps, t);
}

void Simulator::observe_impressions(StepImpressions& out) {
  require_impression_bids(scenario_, "Simulator::observe_impressions");
  if (done()) throw std::logic_error("Simulator::observe_impressions: the episode is over; call reset()");
  observe_step_values(scenario_, backend_->episode(), backend_->step_index(), backend_->impressions_per_step(),
                      backend_->auctionnet_parameters(), threads_, out);
}

void Simulator::observe_impressions(const ValueOutput& out) {
  require_impression_bids(scenario_, "Simulator::observe_impressions");
  if (done()) throw std::logic_error("Simulator::observe_impressions: the episode is over; call reset()");
  observe_step_values(scenario_, backend_->episode(), backend_->step_index(), backend_->impressions_per_step(),
                      backend_->auctionnet_parameters(), threads_, out);
}

void Simulator::step_bids(const float* bids, std::size_t count, ImpressionOutcomes* outcomes) {
  require_impression_bids(scenario_, "Simulator::step_bids");
  if (done()) throw std::logic_error("Simulator::step_bids: the episode is over; call reset()");
  const std::vector<std::int64_t> rows = next_step_rows();
  const int N = scenario_.agents.count;
  const std::size_t expected = static_cast<std::size_t>(rows.back()) * static_cast<std::size_t>(N);
  if (count != expected)
    throw UsageError("Simulator::step_bids: bids: got " + std::to_string(count) + " values, expected impressions x agents = " +
                     std::to_string(rows.back()) + " x " + std::to_string(N) + " = " + std::to_string(expected));
  check_bids(bids, rows.back(), N, "Simulator::step_bids");
  if (outcomes) outcomes->resize(rows, scenario_.mechanism.slots);
  backend_->step_bids(bids, outcomes);
}

bool Simulator::done() { return backend_->step_index() >= scenario_.market.steps; }

void Simulator::step_on_device() {
  if (done()) throw std::logic_error("Simulator::step_on_device: the episode is over; call reset()");
  backend_->step_on_device();
}

}  // namespace bidsim
