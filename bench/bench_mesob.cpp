// Mean-field solver throughput: one MESOB-OMO / MF-OMO iteration (exact gradient + projected Adam
// step) on the paper's game and the large game, and a batched Pareto sweep. Reports time per iteration
// and configuration-iterations per second.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "mesob/mesob_scenario.hpp"
#include "mesob/solvers.hpp"

namespace {

using namespace bidsim::mesob;

MesobScenario scenario(const char* name) {
  return load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/" + name);
}

// Iterations of one configuration on one core; items = iterations, so items/s is iterations/s.
void omo_iterations(benchmark::State& state, const char* file, SolverKind kind) {
  const MesobScenario sc = scenario(file);
  const AuctionGame game(sc.game);
  SolverConfig c = sc.solver;
  c.kind = kind;
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

// The paper game's 120-point (λ1, λ2) grid, `iterations` each, solved as one batch on `threads` cores.
void BM_ParetoSweepPaper(benchmark::State& state) {
  const MesobScenario sc = scenario("mesob-paper.yaml");
  const AuctionGame game(sc.game);
  const int threads = static_cast<int>(state.range(0));
  const int iterations = 100;
  std::vector<SolverConfig> configs;
  for (double l1 : sc.pareto_lambda1)
    for (double l2 : sc.pareto_lambda2) {
      if (l1 == 0 && l2 == 0) continue;
      SolverConfig c = sc.solver;
      c.weights.lambda1 = l1;
      c.weights.lambda2 = l2;
      c.iterations = iterations;
      c.record_every = 0;
      configs.push_back(c);
    }
  for (auto _ : state) benchmark::DoNotOptimize(solve_batch(game, configs, threads).data());
  state.SetItemsProcessed(state.iterations() * static_cast<long long>(configs.size()) * iterations);
  state.counters["configs"] = static_cast<double>(configs.size());
}

}  // namespace

BENCHMARK(BM_MesobOmoIterationPaper)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MfOmoIterationPaper)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MesobOmoIterationLarge)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ParetoSweepPaper)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
