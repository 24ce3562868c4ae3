// Mean-field solver throughput: one MESOB-OMO / MF-OMO iteration (exact gradient + a projected Adam or
// Armijo-line-searched step) on the paper's game and the large game, the paper's 121-configuration sweep
// solved to convergence, and batched Pareto sweeps on the CPU and on a CUDA device (skipped without
// one). Reports time per iteration and configuration-iterations per second.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "engine/facade/simulator.hpp"
#include "mesob/mesob_scenario.hpp"
#include "mesob/omo_batch.hpp"
#include "mesob/solvers.hpp"

namespace {

using namespace bidsim::mesob;

MesobScenario scenario(const char* name) {
  return load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/" + name);
}

// Iterations of one configuration on one core; items = iterations, so items/s is iterations/s. The
// argument is the step rule (OptimizerKind: 0 adam, 2 armijo, whose line search adds objective
// evaluations); no tolerance, so every call runs all its iterations.
void omo_iterations(benchmark::State& state, const char* file, SolverKind kind) {
  const MesobScenario sc = scenario(file);
  const AuctionGame game(sc.game);
  SolverConfig c = sc.solver;
  c.kind = kind;
  c.optimizer = static_cast<OptimizerKind>(state.range(0));
  c.tol = 0;
  state.SetLabel(to_string(c.optimizer));
  const int per_call = 100;
  for (auto _ : state) benchmark::DoNotOptimize(run_omo_iterations(game, c, per_call));
  state.SetItemsProcessed(state.iterations() * per_call);
  // kIsRate | kInvert turns "iterations per second" into seconds per iteration.
  state.counters["s_per_iteration"] = benchmark::Counter(
      static_cast<double>(state.iterations() * per_call), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_MesobOmoIterationPaper(benchmark::State& state) { omo_iterations(state, "mesob-paper.yaml", SolverKind::mesob_omo); }
void BM_MfOmoIterationPaper(benchmark::State& state) { omo_iterations(state, "mesob-paper.yaml", SolverKind::mf_omo); }
void BM_MesobOmoIterationLarge(benchmark::State& state) { omo_iterations(state, "mesob-large.yaml", SolverKind::mesob_omo); }

// The scenario's (λ1, λ2) grid without (0, 0), as `bidsim mesob-pareto` builds it (its solver settings).
std::vector<SolverConfig> scenario_grid(const MesobScenario& sc) {
  std::vector<SolverConfig> configs;
  for (double l1 : sc.pareto_lambda1)
    for (double l2 : sc.pareto_lambda2) {
      if (l1 == 0 && l2 == 0) continue;
      SolverConfig c = sc.solver;
      c.weights.lambda1 = l1;
      c.weights.lambda2 = l2;
      c.record_every = 0;
      configs.push_back(c);
    }
  return configs;
}

// The paper game's 120-point (λ1, λ2) grid, `iterations` each, solved as one batch on `threads` cores.
void BM_ParetoSweepPaper(benchmark::State& state) {
  const MesobScenario sc = scenario("mesob-paper.yaml");
  const AuctionGame game(sc.game);
  const int threads = static_cast<int>(state.range(0));
  const int iterations = 100;
  std::vector<SolverConfig> configs = scenario_grid(sc);
  for (SolverConfig& c : configs) c.iterations = iterations;
  for (auto _ : state) benchmark::DoNotOptimize(solve_batch(game, configs, threads).data());
  state.SetItemsProcessed(state.iterations() * static_cast<long long>(configs.size()) * iterations);
  state.counters["configs"] = static_cast<double>(configs.size());
}

// Issue 14's target: `bidsim mesob-pareto` on the paper game as shipped (the 11 x 11 λ grid without
// (0, 0), plus MF-OMO: 121 configurations, armijo, tol 1e-6, at most the scenario's iterations), solved to
// convergence on `threads` cores. Counters: configurations that converged, and the mean iterations run.
void BM_ParetoSweepPaperConverged(benchmark::State& state) {
  const MesobScenario sc = scenario("mesob-paper.yaml");
  const AuctionGame game(sc.game);
  const int threads = static_cast<int>(state.range(0));
  std::vector<SolverConfig> configs = scenario_grid(sc);
  SolverConfig mf = sc.solver;
  mf.kind = SolverKind::mf_omo;
  mf.record_every = 0;
  configs.push_back(mf);
  std::vector<SolveResult> results;
  for (auto _ : state) {
    results = solve_batch(game, configs, threads);
    benchmark::DoNotOptimize(results.data());
  }
  double converged = 0, iterations = 0;
  for (const SolveResult& r : results) {
    converged += r.converged;
    iterations += r.iterations_run;
  }
  state.counters["configs"] = static_cast<double>(configs.size());
  state.counters["converged"] = converged;
  state.counters["mean_iterations"] = iterations / configs.size();
}

// The issue-5 target sweep: a side x side (λ1, λ2) grid on (0, 1]² of the paper game (scenario lr,
// optimizer and ρ's), `iterations` each.
std::vector<SolverConfig> sweep_configs(const MesobScenario& sc, int side, int iterations) {
  std::vector<SolverConfig> configs;
  for (int i = 0; i < side; ++i)
    for (int j = 0; j < side; ++j) {
      SolverConfig c = sc.solver;
      c.kind = SolverKind::mesob_omo;
      c.weights.lambda1 = (i + 1.0) / side;
      c.weights.lambda2 = (j + 1.0) / side;
      c.iterations = iterations;
      c.record_every = 0;
      configs.push_back(c);
    }
  return configs;
}

constexpr int kSweepSide = 32;  // 1024 configurations

// Time of `iterations` steps of every configuration plus reading d and the terms back (a synchronizing
// call), setup and upload excluded; items = configuration-iterations.
void sweep_on(benchmark::State& state, bool cuda, int iterations) {
  if (cuda && !bidsim::cuda_device_present()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const MesobScenario sc = scenario("mesob-paper.yaml");
  const AuctionGame game(sc.game);
  const std::vector<OmoStepConfig> configs = omo_step_configs(sweep_configs(sc, kSweepSide, iterations));
  std::vector<double> d;
  std::vector<OmoTerms> terms;
  for (auto _ : state) {
    const auto engine = cuda ? make_cuda_omo_batch(game, configs) : make_host_omo_batch(game, configs);
    const auto start = std::chrono::steady_clock::now();
    engine->advance(0, iterations);
    engine->read(d, terms);
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    benchmark::DoNotOptimize(terms.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long long>(configs.size()) * iterations);
  state.counters["configs"] = static_cast<double>(configs.size());
  state.counters["iterations"] = iterations;
}

// Issue 5's H100 target: 1024 configurations x 1500 iterations in at most 1 s.
void BM_ParetoSweepCuda(benchmark::State& state) { sweep_on(state, true, 1500); }
// The same grid through the host reference engine (same per-configuration code, OpenMP over every core),
// 20 iterations: compare items_per_second, not times.
void BM_ParetoSweepCpuReference(benchmark::State& state) { sweep_on(state, false, 20); }

// End to end as `bidsim mesob-pareto --device cuda` runs it: upload, 1500 device iterations, then the
// policies, exploitability and welfare of all 1024 results on the host.
void BM_ParetoSweepCudaSolveBatch(benchmark::State& state) {
  if (!bidsim::cuda_device_present()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const MesobScenario sc = scenario("mesob-paper.yaml");
  const AuctionGame game(sc.game);
  const int iterations = 1500;
  const std::vector<SolverConfig> configs = sweep_configs(sc, kSweepSide, iterations);
  for (auto _ : state) benchmark::DoNotOptimize(solve_batch(game, configs, 0, bidsim::Device::cuda).data());
  state.SetItemsProcessed(state.iterations() * static_cast<long long>(configs.size()) * iterations);
}

}  // namespace

BENCHMARK(BM_MesobOmoIterationPaper)->Arg(0)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MfOmoIterationPaper)->Arg(0)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MesobOmoIterationLarge)->Arg(0)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ParetoSweepPaperConverged)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_ParetoSweepPaper)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ParetoSweepCuda)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParetoSweepCpuReference)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParetoSweepCudaSolveBatch)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
