// One BPG iteration (Algorithm 1: weighted-POMDP batches for x* and ν̄, the dual batch of eq. 13 and
// the primal step of eq. 11) on scenarios/bpg-100.yaml: 100 agents, E environments. Issue 4's GPU
// target is E = 128 on one H100 in ≤ 50 ms; the CPU arms run in the same program for the ratio.
// Arg device: 0 = policies and engine on the CPU, 1 = policies on the GPU with the zero-copy CUDA engine.
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include <string>
#include <vector>

#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "rl/learning_config.hpp"
#include "rl/rollout.hpp"
#include "rl/trainer.hpp"

namespace {

using namespace bidsim;

void BM_BpgIteration(benchmark::State& state) {
  const bool gpu = state.range(0) == 1;
  const int envs = static_cast<int>(state.range(1));
  if (gpu && !(torch::cuda::is_available() && cuda_device_present())) {
    state.SkipWithError("no CUDA device for both LibTorch and the engine");
    return;
  }
  const std::string path = std::string(BIDSIM_SOURCE_DIR) + "/scenarios/bpg-100.yaml";
  const std::vector<std::string> overrides{"market.envs=" + std::to_string(envs)};
  const Scenario s = load_scenario(path, overrides);
  const rl::LearningConfig config = rl::load_learning_config(path, overrides);
  const torch::Device device = gpu ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  rl::Trainer trainer(s, config, device, s.seed);
  trainer.iterate();  // warm-up: allocator, cuBLAS handles, first-touch of the engine's buffers
  for (auto _ : state) {
    const rl::IterationRecord r = trainer.iterate();
    benchmark::DoNotOptimize(r.social_welfare);
  }
  state.counters["agents"] = s.agents.count;
  state.counters["envs"] = envs;
  state.counters["steps"] = s.market.steps;
  // Agent-steps of the θ batch alone; the weighted-POMDP and dual batches come on top.
  state.counters["theta_agent_steps_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * envs * s.agents.count * s.market.steps, benchmark::Counter::kIsRate);
  state.SetLabel(gpu ? "cuda" : "cpu");
}

}  // namespace

BENCHMARK(BM_BpgIteration)->ArgNames({"gpu", "envs"})->Args({0, 32})->Args({0, 128})->Args({1, 128})
    ->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
