// CUDA backend throughput, timed with CUDA events (manual time): the auction kernel's bytes/s as a
// fraction of the device-to-device copy bandwidth measured in the same run, a whole AuctionNet-preset
// episode, and a scaling sweep N = 1e3 .. 1e6 (sparse candidates from 1e5) in agent-steps/s and bid
// evaluations/s with peak device memory, next to the CPU backend on the same arguments. Each
// benchmark skips with a message when no device is present. BIDSIM_PEER_DUMP=path also writes the
// inputs and outputs of one market step for bench/peers/torch_market.py.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_backend.hpp"
#include "engine/core/money.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "peer_market.hpp"

namespace {

std::string scenario_path(const char* name) { return std::string(BIDSIM_SOURCE_DIR) + "/scenarios/" + name; }

bool skip_without_device(benchmark::State& state) {
  if (bidsim::cuda_device_present()) return false;
  state.SkipWithError("no CUDA device: skipped");
  return true;
}

// A benchmark whose setup or run throws (a scenario refused, a CUDA error) reports the message as that
// benchmark's error and the program goes on to the next: one bad row must not cost a GPU session the
// other figures (an exception out of a benchmark would end the program).
template <class Body>
void reporting_errors(benchmark::State& state, Body&& body) {
  try {
    body(state);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}
#define BIDSIM_REPORTING_ERRORS(name) \
  void name(benchmark::State& state) { reporting_errors(state, name##_body); }

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

// Device memory in use now (total - free), bytes.
double device_memory_used() {
  std::size_t free_bytes = 0, total_bytes = 0;
  check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  return static_cast<double>(total_bytes - free_bytes);
}

// Device-to-device copy bandwidth, bytes read + written per second (1 GiB buffers, median of 10).
double copy_bandwidth() {
  static double measured = 0;
  if (measured > 0) return measured;
  const std::size_t bytes = std::size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  check(cudaMalloc(&a, bytes), "cudaMalloc");
  check(cudaMalloc(&b, bytes), "cudaMalloc");
  check(cudaMemset(a, 1, bytes), "cudaMemset");
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  check(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice), "warm-up copy");
  std::vector<float> ms(10);
  for (float& x : ms) {
    cudaEventRecord(start);
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    cudaEventElapsedTime(&x, start, stop);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  measured = 2.0 * bytes / (ms[ms.size() / 2] * 1e-3);
  return measured;
}

void BM_DeviceCopyBandwidth_body(benchmark::State& state) {
  if (skip_without_device(state)) return;
  for (auto _ : state) state.SetIterationTime(2.0 * (std::size_t{1} << 30) / copy_bandwidth());
  state.counters["bytes/s"] = copy_bandwidth();
}
BIDSIM_REPORTING_ERRORS(BM_DeviceCopyBandwidth)
BENCHMARK(BM_DeviceCopyBandwidth)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

using bidsim_bench::file_market;

void BM_AuctionKernel_body(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const int candidates = static_cast<int>(state.range(0)), slots = static_cast<int>(state.range(1));
  const int agents = 4099;  // prime, so the stride in file_market gives distinct agents per row
  // 2^20 impressions: x 3 slots, within the exact-money range (money.hpp kMaxSlotSalesPerEpisode, 2^22).
  const bidsim::Scenario s = file_market(agents, 1 << 20, candidates, slots, 7);
  const std::vector<float> multipliers(agents, 1.0f);
  bidsim::cuda::AuctionKernelTiming timing;
  for (auto _ : state) {
    timing = bidsim::cuda::time_auction_kernel(s, multipliers.data(), 20);
    state.SetIterationTime(timing.milliseconds * 1e-3);
  }
  const double rate = timing.bytes / (timing.milliseconds * 1e-3);
  state.counters["bytes/s"] = rate;
  state.counters["copy_bytes/s"] = copy_bandwidth();
  state.counters["fraction_of_copy"] = rate / copy_bandwidth();
  state.counters["bids/s"] = timing.bids / (timing.milliseconds * 1e-3);
}
BIDSIM_REPORTING_ERRORS(BM_AuctionKernel)
BENCHMARK(BM_AuctionKernel)->ArgNames({"candidates", "slots"})->Args({32, 1})->Args({32, 3})->Args({128, 3})
    ->UseManualTime()->Iterations(3)->Unit(benchmark::kMicrosecond);

// The procedural dense auction probe on the AuctionNet preset's first tick (compute-bound: values
// are drawn, not read; bytes/s is reported for completeness).
void BM_AuctionKernelAuctionNet_body(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const bidsim::Scenario s = bidsim::load_scenario(scenario_path("auctionnet.yaml"), {"market.envs=64"});
  const std::vector<float> multipliers(static_cast<std::size_t>(s.market.envs) * s.agents.count, 100.0f);
  bidsim::cuda::AuctionKernelTiming timing;
  for (auto _ : state) {
    timing = bidsim::cuda::time_auction_kernel(s, multipliers.data(), 20);
    state.SetIterationTime(timing.milliseconds * 1e-3);
  }
  state.counters["bids/s"] = timing.bids / (timing.milliseconds * 1e-3);
  state.counters["fraction_of_copy"] = timing.bytes / (timing.milliseconds * 1e-3) / copy_bandwidth();
}
BIDSIM_REPORTING_ERRORS(BM_AuctionKernelAuctionNet)
BENCHMARK(BM_AuctionKernelAuctionNet)->UseManualTime()->Iterations(3)->Unit(benchmark::kMicrosecond);

// Whole AuctionNet-preset episodes on the device. policies=host: the built-in policies act on the
// host state every step (the `simulate` path, a state copy per step); policies=device: constant
// CPA-style multipliers written once into the device view, T steps with no host round trip.
void BM_CudaAuctionNetEpisode_body(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const bool host_policies = state.range(0) == 1;
  const bidsim::Scenario s = bidsim::load_scenario(scenario_path("auctionnet.yaml"));
  bidsim::Simulator sim(s, bidsim::Device::cuda);
  bidsim::BuiltinPolicies policies(s);
  std::vector<float> multipliers(static_cast<std::size_t>(s.market.envs) * s.agents.count, 80.0f);
  const bidsim::DeviceTensorView in = sim.device_tensor(bidsim::MarketTensor::multipliers);
  const cudaStream_t stream = static_cast<cudaStream_t>(in.stream);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::uint64_t episode = 0;
  double impressions = 0, passes = 0;
  for (auto _ : state) {
    sim.reset(episode++);
    policies.reset();
    check(cudaMemcpyAsync(in.data, multipliers.data(), multipliers.size() * sizeof(float), cudaMemcpyHostToDevice, stream),
          "multipliers");
    check(cudaStreamSynchronize(stream), "sync");
    cudaEventRecord(start, stream);
    while (!sim.done()) {
      if (host_policies) {
        policies.act(sim.state(), multipliers.data());
        sim.step(multipliers.data());
      } else {
        sim.step_on_device();
      }
    }
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms * 1e-3);
    const bidsim::MarketState& st = sim.state();
    for (std::size_t k = 0; k < st.impressions.size(); ++k) {
      impressions += st.impressions[k];
      passes += st.passes[k];
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  state.counters["auctions/s"] = benchmark::Counter(impressions, benchmark::Counter::kIsRate);
  state.counters["passes/step"] = passes / (state.iterations() * s.market.steps);
}
BIDSIM_REPORTING_ERRORS(BM_CudaAuctionNetEpisode)
BENCHMARK(BM_CudaAuctionNetEpisode)->ArgName("host_policies")->Arg(0)->Arg(1)->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The scaling market: E = 1, M = max(N, 1e4) impressions per step, T = 4 steps or fewer (as many as the
// exact-money range allows: 2^22 slot sales an episode, so 1 step at 10^6 agents), finite budgets (the
// AuctionNet overspend rule runs), dense up to 1e4 agents, sparse K = 32 within category above.
bidsim::Scenario scaling_market(int agents) {
  const bool sparse = agents >= 100000;
  const int impressions = std::max(agents, 10000);
  constexpr int kSlots = 3;
  const int steps = static_cast<int>(std::min<bidsim::Money>(4, bidsim::kMaxSlotSalesPerEpisode / (bidsim::Money{impressions} * kSlots)));
  std::string yaml = "name: scaling\nmarket: {envs: 1, steps: " + std::to_string(steps) + "}\nagents: {count: " +
                     std::to_string(agents) +
                     ", categories: 8, budget: {uniform: [20, 200]}, value_scale: {uniform: [0.5, 1.5]}}\n"
                     "impressions: {per_step: " + std::to_string(impressions) + "}\n"
                     "values: {model: procedural, distribution: lognormal, sigma: 0.6, cross_category: 0.3}\n"
                     "mechanism: {type: gsp, slots: " + std::to_string(kSlots) + ", exposure: [1, 0.8, 0.6], reserve: 0.01}\n"
                     "budget: {floor: 0.1, overspend: auctionnet}\n";
  if (sparse) yaml += "candidates: {mode: sparse, per_impression: 32, within_category: true}\n";
  return bidsim::parse_scenario(yaml, "scaling");
}

void run_scaling(benchmark::State& state, bidsim::Device device) {
  const int agents = static_cast<int>(state.range(0));
  const bidsim::Scenario s = scaling_market(agents);
  const double before = device == bidsim::Device::cuda ? device_memory_used() : 0;
  bidsim::Simulator sim(s, device, 0);
  std::vector<float> multipliers(static_cast<std::size_t>(agents), 0.8f);
  double peak = 0, bids = 0;
  const int candidates = s.candidates.mode == bidsim::CandidateMode::sparse ? s.candidates.per_impression : agents;
  std::uint64_t episode = 0;
  for (auto _ : state) {
    sim.reset(episode++);
    const auto t0 = std::chrono::steady_clock::now();
    while (!sim.done()) sim.step(multipliers.data());
    const bidsim::MarketState& st = sim.state();  // waits for the device
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (device == bidsim::Device::cuda) peak = std::max(peak, device_memory_used() - before);
    for (int x : st.impressions) bids += static_cast<double>(x) * candidates;
  }
  const double steps = static_cast<double>(state.iterations()) * s.market.steps;
  state.counters["agent_steps/s"] = benchmark::Counter(steps * agents, benchmark::Counter::kIsRate);
  state.counters["steps"] = s.market.steps;
  state.counters["bid_evals/s"] = benchmark::Counter(bids, benchmark::Counter::kIsRate);
  if (device == bidsim::Device::cuda) state.counters["device_MiB"] = peak / (1 << 20);
}

// Wall time around T steps, ending with the state copy (the device work is synchronized by it).
void BM_CudaScaling_body(benchmark::State& state) {
  if (skip_without_device(state)) return;
  run_scaling(state, bidsim::Device::cuda);
}
BIDSIM_REPORTING_ERRORS(BM_CudaScaling)
BENCHMARK(BM_CudaScaling)->ArgName("agents")->Arg(1000)->Arg(10000)->Arg(100000)->Arg(1000000)
    ->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_CpuScaling_body(benchmark::State& state) { run_scaling(state, bidsim::Device::cpu); }
BIDSIM_REPORTING_ERRORS(BM_CpuScaling)
BENCHMARK(BM_CpuScaling)->ArgName("agents")->Arg(1000)->Arg(10000)->Arg(100000)->Arg(1000000)
    ->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

// One market step for the PyTorch peer (bench/peer_market.hpp): bidsim's step time (CUDA events, median
// of 20) and, with $BIDSIM_PEER_DUMP, the inputs and outputs the peer checks itself against.
void BM_PeerStep_body(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const bidsim::Scenario s = bidsim_bench::peer_market();
  const std::vector<float> multipliers = bidsim_bench::peer_multipliers();
  bidsim::Simulator sim(s, bidsim::Device::cuda);
  const bidsim::DeviceTensorView in = sim.device_tensor(bidsim::MarketTensor::multipliers);
  const cudaStream_t stream = static_cast<cudaStream_t>(in.stream);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (auto _ : state) {
    sim.reset(0);
    check(cudaMemcpyAsync(in.data, multipliers.data(), multipliers.size() * sizeof(float), cudaMemcpyHostToDevice,
                          stream), "in");
    cudaEventRecord(start, stream);
    sim.step_on_device();
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float x = 0;
    cudaEventElapsedTime(&x, start, stop);
    ms.push_back(x);
    state.SetIterationTime(x * 1e-3);
  }
  std::sort(ms.begin(), ms.end());
  const double median_ms = ms[ms.size() / 2];
  state.counters["bids/s"] =
      static_cast<double>(bidsim_bench::kPeerImpressions) * bidsim_bench::kPeerCandidates / (median_ms * 1e-3);
  if (const char* path = std::getenv("BIDSIM_PEER_DUMP"))
    bidsim_bench::write_peer_dump(path, s, multipliers, bidsim_bench::PeerBackend::cuda, 0, median_ms, sim.state());
}
BIDSIM_REPORTING_ERRORS(BM_PeerStep)
BENCHMARK(BM_PeerStep)->UseManualTime()->Iterations(20)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
