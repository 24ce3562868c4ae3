// Market-step throughput of the CPU backend: a whole AuctionNet-preset episode (overspend rule
// included), dense and sparse market steps, and the step the PyTorch peer reimplements
// (bench/peer_market.hpp; BIDSIM_PEER_DUMP=path writes its inputs and outputs for
// bench/peers/torch_market.py). Reports rates, never bare wall times.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "peer_market.hpp"

namespace {

std::string scenario_path(const char* name) {
  return std::string(BIDSIM_SOURCE_DIR) + "/scenarios/" + name;
}

// Runs whole episodes (reset + T steps with the scenario's built-in policies) and reports
// ns per agent x impression, auctions/s and the overspend rule's auction passes per step.
void run_episodes(benchmark::State& state, const bidsim::Scenario& scenario, int threads) {
  bidsim::Simulator sim(scenario, bidsim::Device::cpu, threads);
  bidsim::BuiltinPolicies policies(scenario);
  std::vector<float> multipliers(static_cast<std::size_t>(scenario.market.envs) * scenario.agents.count);
  double impressions = 0, passes = 0, steps = 0;
  std::uint64_t episode = 0;
  for (auto _ : state) {
    sim.reset(episode++);
    policies.reset();
    while (!sim.done()) {
      policies.act(sim.state(), multipliers.data());
      sim.step(multipliers.data());
    }
    const bidsim::MarketState& st = sim.state();
    for (std::size_t k = 0; k < st.impressions.size(); ++k) {
      impressions += st.impressions[k];
      passes += st.passes[k];
      steps += 1;
    }
    benchmark::DoNotOptimize(st.revenue.data());
  }
  const double candidates = scenario.candidates.mode == bidsim::CandidateMode::sparse
                                ? scenario.candidates.per_impression : scenario.agents.count;
  state.SetItemsProcessed(static_cast<std::int64_t>(impressions));
  state.counters["auctions/s"] = benchmark::Counter(impressions, benchmark::Counter::kIsRate);
  state.counters["bids/s"] = benchmark::Counter(impressions * candidates, benchmark::Counter::kIsRate);
  // Seconds per (agent x impression), printed with an SI prefix (e.g. 19.5n = 19.5 ns).
  state.counters["per_agent_impr"] = benchmark::Counter(
      impressions * candidates, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["passes/step"] = passes / steps;
  state.counters["impr/episode"] = impressions / (state.iterations() * scenario.market.envs);
}

// The AuctionNet preset: 48 agents, 48 ticks, ~500k impressions, GSP 3 slots, overspend rule.
void BM_AuctionNetEpisode(benchmark::State& state) {
  const bidsim::Scenario scenario = bidsim::load_scenario(scenario_path("auctionnet.yaml"));
  run_episodes(state, scenario, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_AuctionNetEpisode)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// A one-environment, 4-step market built from YAML `body` (agent count, impressions per step and
// threads from the benchmark arguments: agents, impressions, threads).
void run_market(benchmark::State& state, const std::string& name, const std::string& body) {
  const std::string yaml = "name: " + name + "\nmarket: {envs: 1, steps: 4}\n" +
                           "impressions: {per_step: " + std::to_string(state.range(1)) + "}\n" +
                           "agents: {count: " + std::to_string(state.range(0)) + ", " + body;
  const bidsim::Scenario scenario = bidsim::parse_scenario(yaml, name);
  run_episodes(state, scenario, static_cast<int>(state.range(2)));
}

// Dense market, second price, truthful bidders with budgets that never bind: the auction itself.
void BM_DenseMarket(benchmark::State& state) {
  run_market(state, "dense-bench",
             "categories: 10, budget: .inf, value_scale: {uniform: [0.5, 1.5]}}\n"
             "values: {model: procedural, distribution: lognormal, sigma: 0.5, cross_category: 0.5}\n"
             "mechanism: {type: second_price, reserve: 0.01}\n");
}
BENCHMARK(BM_DenseMarket)->ArgNames({"agents", "impressions", "threads"})->Args({1000, 10000, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Same dense market with GSP 3 slots, exposure [1, .8, .6] and budgets that run out within the
// episode, so the AuctionNet overspend rule re-auctions.
void BM_DenseGspBudgeted(benchmark::State& state) {
  run_market(state, "dense-gsp-bench",
             "categories: 10, budget: {uniform: [100, 300]}}\n"
             "values: {model: procedural, sigma: 0.5, cross_category: 0.5}\n"
             "mechanism: {type: gsp, slots: 3, exposure: [1, 0.8, 0.6], exposure_cascade: true, reserve: 0.01, charge: on_exposure}\n"
             "budget: {overspend: auctionnet}\n");
}
BENCHMARK(BM_DenseGspBudgeted)->ArgNames({"agents", "impressions", "threads"})->Args({1000, 10000, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Sparse candidates: K = 16 per impression within category; the 10^5-agent regime.
void BM_SparseMarket(benchmark::State& state) {
  run_market(state, "sparse-bench",
             "categories: 100, budget: {uniform: [5, 15]}}\n"
             "values: {model: procedural, sigma: 0.5}\n"
             "candidates: {mode: sparse, per_impression: 16, within_category: true}\n"
             "mechanism: {type: gsp, slots: 3, reserve: 0.01}\n");
}
BENCHMARK(BM_SparseMarket)->ArgNames({"agents", "impressions", "threads"})->Args({100000, 100000, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Environment parallelism: 8 AuctionNet episodes side by side on 1 and 2 threads.
void BM_AuctionNetBatch(benchmark::State& state) {
  const bidsim::Scenario scenario = bidsim::load_scenario(scenario_path("auctionnet.yaml"), {"market.envs=8"});
  run_episodes(state, scenario, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_AuctionNetBatch)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

// The peer's market step (2^18 impressions x 32 candidates, GSP 3 slots) on the CPU backend: the
// step alone (reset outside the timing), median of the iterations, next to bench/peers/torch_market.py
// run on the CPU with the same thread count.
void BM_PeerStepCpu(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const bidsim::Scenario s = bidsim_bench::peer_market();
  const std::vector<float> multipliers = bidsim_bench::peer_multipliers();
  bidsim::Simulator sim(s, bidsim::Device::cpu, threads);
  std::vector<double> ms;
  for (auto _ : state) {
    sim.reset(0);
    const auto start = std::chrono::steady_clock::now();
    sim.step(multipliers.data());
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    ms.push_back(elapsed.count() * 1e3);
    state.SetIterationTime(elapsed.count());
  }
  std::sort(ms.begin(), ms.end());
  const double median_ms = ms[ms.size() / 2];
  state.counters["bids/s"] =
      static_cast<double>(bidsim_bench::kPeerImpressions) * bidsim_bench::kPeerCandidates / (median_ms * 1e-3);
  state.counters["median_ms"] = median_ms;
  if (const char* path = std::getenv("BIDSIM_PEER_DUMP"))
    bidsim_bench::write_peer_dump(path, s, multipliers, bidsim_bench::PeerBackend::cpu, threads, median_ms,
                                  sim.state());
}
BENCHMARK(BM_PeerStepCpu)->ArgName("threads")->Arg(1)->Arg(2)->Iterations(10)->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
