// CUDA backend against the CPU reference, on every market scenario in scenarios/ and on generated
// markets (N = 1, 31, 32, 33, large; dense, sparse, file values; both overspend rules), plus run-to-run
// bit identity and the zero-copy device views. Tagged [cuda]; without a device each case WARNs and
// returns, except the "no device" case, which checks the refusal path instead. In the emulation
// build (cuda/emulation/, tools/setup.sh emulate) the "device" is the host emulator, which runs the
// real kernels, so every case runs on machines without a GPU too.
//
// No tolerance: every field of MarketState must be bit-identical, revenue included. Why this holds
// by construction: the kernels call the same host+device physics (physics.hpp, rng.hpp), log/exp
// are portable_math.hpp (plain IEEE + - * /), FMA contraction is off on both sides (g++ -std=c++17,
// nvcc --fmad=false), and money is exact (engine/core/money.hpp: int64 ticks), so the GPU's per-agent
// and per-environment sums (integer atomics in any order) are the CPU's integers, and the doubles
// of the state are converted from them by the same function.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/auction_lanes.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "cuda_test_support.hpp"
#include "test_support.hpp"

#ifdef BIDSIM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace {

using bidsim::Device;
using bidsim::MarketState;
using bidsim::Scenario;
using bidsim::Simulator;

std::string scenario_path(const std::string& name) {
  return std::string(BIDSIM_SOURCE_DIR) + "/scenarios/" + name;
}

// First element where two arrays differ, as "field[index]: cpu vs cuda", or "" when equal.
template <class T>
std::string first_difference(const char* field, const std::vector<T>& cpu, const std::vector<T>& gpu) {
  if (cpu.size() != gpu.size()) return std::string(field) + ": sizes differ";
  for (std::size_t k = 0; k < cpu.size(); ++k)
    if (std::memcmp(&cpu[k], &gpu[k], sizeof(T)) != 0) {
      std::ostringstream o;
      o.precision(17);
      o << field << "[" << k << "]: cpu " << cpu[k] << " vs cuda " << gpu[k];
      return o.str();
    }
  return "";
}

// Every field bit-identical, the exact money accounts and revenue included.
std::string state_difference(const MarketState& c, const MarketState& g) {
  if (c.step != g.step || c.envs != g.envs || c.agents != g.agents) return "shape or step differs";
  std::string d;  // the first difference, in the field lists' order (engine/core/market_fields.hpp)
  MarketState::for_each_field([&](const bidsim::FieldInfo& f, auto member) {
    if (d.empty()) d = first_difference(f.name, c.*member, g.*member);
  });
  return d;
}

// What a comparison exercised, so a test can require that it reached the interesting paths.
struct Coverage {
  long long wins = 0, exposures = 0, extra_passes = 0, bids = 0;
  int most_passes = 0;  // in one env and step
};

// Runs the scenario's episode on both backends with the same multipliers (the built-in policies
// acting on the CPU state, perturbed by `noise` to reach negative/zero/NaN actions) and compares the
// whole state after reset and after every step. Returns what it covered.
Coverage compare_backends(const Scenario& scenario, std::uint64_t episode, bool noisy_actions) {
  Simulator cpu(scenario, Device::cpu, 0);
  Simulator gpu(scenario, Device::cuda);
  REQUIRE(std::string(gpu.backend_name()) == "cuda");
  bidsim::BuiltinPolicies policies(scenario);
  cpu.reset(episode);
  gpu.reset(episode);
  policies.reset();
  {
    const std::string d = state_difference(cpu.state(), gpu.state());
    INFO("after reset: " << d);
    REQUIRE(d.empty());
  }
  std::mt19937 rng(static_cast<unsigned>(episode) * 7919u + 17u);
  const std::size_t EN = static_cast<std::size_t>(scenario.market.envs) * scenario.agents.count;
  std::vector<float> multipliers(EN);
  Coverage cover;
  for (int t = 0; t < scenario.market.steps; ++t) {
    policies.act(cpu.state(), multipliers.data());
    if (noisy_actions)
      for (float& a : multipliers) {
        const unsigned k = rng() % 20;
        if (k == 0) a = -1.0f;
        else if (k == 1) a = 0.0f;
        else if (k == 2) a = std::nanf("");
        else if (k < 8) a *= 0.5f + static_cast<float>(rng() % 1000) / 500.0f;
      }
    cpu.step(multipliers.data());
    gpu.step(multipliers.data());
    const std::string d = state_difference(cpu.state(), gpu.state());
    INFO("scenario " << scenario.name << ", episode " << episode << ", step " << t << ": " << d);
    REQUIRE(d.empty());
    const MarketState& s = cpu.state();
    for (std::size_t a = 0; a < EN; ++a) {
      cover.wins += s.step_wins[a];
      cover.exposures += s.step_exposures[a];
      cover.bids += s.step_bid_count[a];
    }
    for (int e = 0; e < scenario.market.envs; ++e) {
      const int passes = s.passes[static_cast<std::size_t>(e) * scenario.market.steps + t];
      cover.extra_passes += passes - 1;
      cover.most_passes = std::max(cover.most_passes, passes);
    }
  }
  return cover;
}

// A generated market (the shape of test_market.cpp's random markets, wider): every mechanism
// option, both overspend rules, all value distributions, tight budgets so the rules bind.
std::string random_market_yaml(std::mt19937& rng, int N, int M, bool sparse, bool within_category) {
  const int categories = within_category ? 2 : 1 + static_cast<int>(rng() % std::min(3, N));
  // K stays small: the CPU's Floyd sampling is O(K^2) per impression.
  const int K = sparse ? 1 + static_cast<int>(rng() % std::min({N, within_category ? N / 2 : N, 64})) : N;
  const int slots = 1 + static_cast<int>(rng() % std::min(K, bidsim::kMaxSlots));
  std::ostringstream y;
  y << "name: random-" << N << "\nseed: " << rng() % 100000 << "\n"
    << "market: {envs: 3, steps: 5}\n"
    << "agents: {count: " << N << ", categories: " << categories
    << ", budget: {uniform: [0.5, " << (rng() % 2 ? 20 : 200) << "]}, value_scale: {uniform: [0.5, 1.5]}}\n"
    << "impressions: {per_step: " << M << "}\n"
    << "values: {model: procedural, distribution: "
    << (rng() % 3 == 0 ? "uniform" : rng() % 2 ? "exponential" : "lognormal") << ", sigma: 0.7, cross_category: 0.5}\n";
  if (sparse)
    y << "candidates: {mode: sparse, per_impression: " << K << ", within_category: "
      << (within_category ? "true" : "false") << "}\n";
  y << "mechanism: {type: gsp, slots: " << slots << ", exposure: [";
  for (int k = 0; k < slots; ++k) y << (k ? ", " : "") << (rng() % 2 ? 1.0 : 0.6);
  y << "], exposure_cascade: " << (rng() % 2 ? "true" : "false")
    << ", charge: " << (rng() % 2 ? "on_exposure" : "on_win") << ", reserve: " << (rng() % 2 ? 0.0 : 0.2)
    << ", unsold_at_reserve: " << (rng() % 2 ? "true" : "false") << "}\n"
    << "budget: {floor: " << (rng() % 2 ? 0.0 : 0.3) << ", overspend: " << (rng() % 2 ? "truncate" : "auctionnet")
    << ", max_passes: " << (rng() % 2 ? 64 : 2) << "}\n"
    << "reward: " << (rng() % 3 == 0 ? "utility" : rng() % 2 ? "conversions" : "value") << "\n";
  return y.str();
}

}  // namespace

TEST_CASE("Device::cuda without a device is a clear UsageError and auto falls back to the CPU", "[cuda]") {
  const Scenario s = bidsim::load_scenario(scenario_path("default.yaml"));
  if (bidsim::cuda_device_present()) {
    Simulator automatic(s, Device::automatic);
    CHECK(std::string(automatic.backend_name()) == "cuda");
    CHECK(automatic.device_resident());
    return;
  }
  try {
    Simulator sim(s, Device::cuda);
    FAIL("--device cuda succeeded without a device");
  } catch (const bidsim::UsageError& e) {
    const std::string message = e.what();
    CHECK(message.find("--device cuda") == 0);
    CHECK((message.find("no CUDA device") != std::string::npos ||
           message.find("built without the CUDA backend") != std::string::npos));
  }
  Simulator automatic(s, Device::automatic, 1);
  CHECK(std::string(automatic.backend_name()) == "cpu");
  CHECK_FALSE(automatic.device_resident());
  CHECK_THROWS_AS(automatic.device_tensor(bidsim::MarketTensor::observations), bidsim::UsageError);
  CHECK_THROWS_AS(automatic.step_on_device(), bidsim::UsageError);
}

TEST_CASE("CUDA equals CPU on every market scenario in scenarios/", "[cuda][scenarios]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  for (const char* name : {"default.yaml", "auctionnet.yaml", "bpg-10.yaml", "bpg-100.yaml"}) {
    SECTION(name) {
      const Scenario s = bidsim::load_scenario(scenario_path(name));
      const Coverage c = compare_backends(s, 0, false);
      CHECK(c.wins > 0);
      // A second episode (other draws) and noisy actions (NaN, negative, zero multipliers).
      compare_backends(s, 1, true);
    }
  }
  SECTION("auctionnet with a reward of expected value and a batch of 3 episodes") {
    const Scenario s = bidsim::load_scenario(scenario_path("auctionnet.yaml"),
                                             {"reward=value", "market.envs=3", "impressions.total=60000"});
    const Coverage c = compare_backends(s, 2, true);
    CHECK(c.exposures < c.wins);  // exposure [1, .8, .6] with the cascade hides some wins
  }
}

TEST_CASE("CUDA equals CPU on generated markets of N = 1, 31, 32, 33 and large", "[cuda][random]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  std::mt19937 rng(20251123);
  Coverage total;
  int cases = 0;
  for (int N : {1, 31, 32, 33, 1000}) {
    for (int M : {0, 1, 77, 600}) {
      for (int variant = 0; variant < 3; ++variant) {
        const bool sparse = variant == 1 && N > 1;
        const bool within = variant == 2 && N >= 4;
        const std::string yaml = random_market_yaml(rng, N, M, sparse || within, within);
        INFO(yaml);
        const Scenario s = bidsim::parse_scenario(yaml, "generated.yaml");
        const Coverage c = compare_backends(s, static_cast<std::uint64_t>(variant), variant != 0);
        total.wins += c.wins;
        total.extra_passes += c.extra_passes;
        total.bids += c.bids;
        ++cases;
      }
    }
  }
  CHECK(cases == 60);
  CHECK(total.wins > 10000);
  CHECK(total.extra_passes > 0);  // the AuctionNet overspend rule re-auctioned somewhere
}

TEST_CASE("CUDA equals CPU on file values with equal bids (counter-based ties)", "[cuda][ties]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  // Values from a short list, so many impressions have equal top bids and take the tie path.
  std::mt19937 rng(99);
  std::vector<bidsim_test::ValueRow> rows;
  const int N = 33, T = 3;
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < 200; ++j)
      for (int i = 0; i < N; ++i)
        if (rng() % 3) rows.push_back({t, j, i, 0.25f * static_cast<float>(1 + rng() % 4)});
  for (const char* rule : {"auctionnet", "truncate"}) {
    bidsim_test::TempDir dir;
    dir.write("values.csv", bidsim_test::value_csv(rows));
    const std::string yaml = std::string("name: ties\nmarket: {envs: 2, steps: 3}\n") +
                             "agents: {count: 33, budget: {uniform: [1, 12]}}\n" +
                             "mechanism: {type: gsp, slots: 3, exposure: [1, 0.7, 0.5], reserve: 0.1}\n" +
                             "budget: {overspend: " + rule + "}\nvalues: {model: file, file: values.csv}\n";
    const Scenario s = bidsim::parse_scenario(yaml, "ties.yaml", {}, dir.path());
    const Coverage c = compare_backends(s, 0, false);
    CHECK(c.wins > 0);
  }
}

TEST_CASE("CUDA equals CPU when drop rounds meet equal bids at the drop floor", "[cuda][ties][passes]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  // Values on a grid of four levels and budgets a small fraction of the wins: many drop rounds per
  // step, and re-auctions whose candidates tie with the floor (engine/core/drop_floor.hpp), so the tie
  // keys decide which are below it; with unsold_at_reserve at a grid level, ranked winners that hold
  // unsold slots. Dense rows and rows with a third of the agents missing; one to three slots.
  std::mt19937 rng(2026);
  for (int slots = 1; slots <= 3; ++slots)
    for (const bool holes : {false, true}) {
      std::vector<bidsim_test::ValueRow> rows;
      const int N = 20, T = 3;
      for (int t = 0; t < T; ++t)
        for (int j = 0; j < 150; ++j)
          for (int i = 0; i < N; ++i)
            if (!holes || rng() % 3) rows.push_back({t, j, i, 0.25f * static_cast<float>(1 + rng() % 4)});
      bidsim_test::TempDir dir;
      dir.write("values.csv", bidsim_test::value_csv(rows));
      const char* exposure[] = {"[1]", "[1, 0.7]", "[1, 0.7, 0.5]"};
      const std::string yaml = std::string("name: floor-ties\nmarket: {envs: 2, steps: 3}\n") +
                               "agents: {count: 20, budget: {uniform: [0.5, 4]}}\n" +
                               "mechanism: {type: gsp, slots: " + std::to_string(slots) + ", exposure: " +
                               exposure[slots - 1] + ", reserve: 0.25, unsold_at_reserve: true}\n" +
                               "budget: {overspend: auctionnet, max_passes: 64}\n" +
                               "values: {model: file, file: values.csv}\n";
      INFO(yaml);
      const Scenario s = bidsim::parse_scenario(yaml, "floor-ties.yaml", {}, dir.path());
      const Coverage c = compare_backends(s, 0, false);
      CHECK(c.wins > 0);
      CHECK(c.extra_passes >= 2 * 3);  // drop rounds in most steps
      compare_backends(s, 1, true);
    }
}

TEST_CASE("CUDA equals CPU on a sharded batch (first_env, total_envs)", "[cuda][shard]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  Scenario s = bidsim::load_scenario(scenario_path("bpg-10.yaml"), {"market.envs=3"});
  s.market.first_env = 5;
  s.market.total_envs = 11;
  compare_backends(s, 3, true);
}

TEST_CASE("CUDA runs are bit-identical run after run", "[cuda][determinism]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  for (const std::string name : {"default.yaml", "auctionnet.yaml"}) {
    std::vector<std::string> overrides;
#ifdef BIDSIM_CUDA_EMULATION
    // The host emulator is far slower than a GPU (and single-threaded, so this holds by
    // construction there): a tenth of AuctionNet's impressions keeps the case to seconds.
    if (name == "auctionnet.yaml") overrides.push_back("impressions.total=50000");
#endif
    const Scenario s = bidsim::load_scenario(scenario_path(name), overrides);
    std::vector<MarketState> finals;
    for (int run = 0; run < 2; ++run) {
      Simulator gpu(s, Device::cuda);
      bidsim::BuiltinPolicies policies(s);
      std::vector<float> m(static_cast<std::size_t>(s.market.envs) * s.agents.count);
      for (std::uint64_t episode : {0u, 1u}) {
        gpu.reset(episode);
        policies.reset();
        while (!gpu.done()) {
          policies.act(gpu.state(), m.data());
          gpu.step(m.data());
        }
      }
      finals.push_back(gpu.state());
    }
    CHECK(bidsim_test::state_fields(finals[0]) == bidsim_test::state_fields(finals[1]));
    CHECK(finals[0].step == s.market.steps);
  }
}

TEST_CASE("CUDA device tensor views alias the backend's buffers (zero copy)", "[cuda][views]") {
  if (bidsim_test::skip_without_cuda_device()) return;
#ifdef BIDSIM_HAVE_CUDA
  const Scenario s = bidsim::load_scenario(scenario_path("bpg-10.yaml"));
  const int E = s.market.envs, N = s.agents.count;
  Simulator host_fed(s, Device::cuda), device_fed(s, Device::cuda);
  REQUIRE(device_fed.device_resident());
  const bidsim::DeviceTensorView in = device_fed.device_tensor(bidsim::MarketTensor::multipliers);
  CHECK(in.dtype == bidsim::DType::float32);
  CHECK(in.shape == std::vector<std::int64_t>{E, N});
  REQUIRE(in.data != nullptr);
  CHECK(in.stream != nullptr);
  std::vector<float> m(static_cast<std::size_t>(E) * N);
  for (int t = 0; t < s.market.steps; ++t) {
    for (std::size_t a = 0; a < m.size(); ++a) m[a] = 0.5f + 0.1f * static_cast<float>((a * 7 + t) % 11);
    REQUIRE(cudaMemcpyAsync(in.data, m.data(), m.size() * sizeof(float), cudaMemcpyHostToDevice,
                            static_cast<cudaStream_t>(in.stream)) == cudaSuccess);
    device_fed.step_on_device();
    host_fed.step(m.data());
  }
  const std::string d = state_difference(host_fed.state(), device_fed.state());
  INFO(d);
  CHECK(d.empty());
  const bidsim::DeviceTensorView obs = device_fed.device_tensor(bidsim::MarketTensor::observations);
  CHECK(obs.shape == std::vector<std::int64_t>{E, N, bidsim::kObservationWidth});
  std::vector<float> observed(static_cast<std::size_t>(E) * N * bidsim::kObservationWidth);
  REQUIRE(cudaStreamSynchronize(static_cast<cudaStream_t>(obs.stream)) == cudaSuccess);
  REQUIRE(cudaMemcpy(observed.data(), obs.data, observed.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(observed == device_fed.state().observation);
  const bidsim::DeviceTensorView reward = device_fed.device_tensor(bidsim::MarketTensor::step_reward);
  CHECK(reward.dtype == bidsim::DType::float64);
  std::vector<double> step_reward(static_cast<std::size_t>(E) * N);
  REQUIRE(cudaMemcpy(step_reward.data(), reward.data, step_reward.size() * sizeof(double), cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(step_reward == device_fed.state().step_reward);
  CHECK_THROWS_AS(device_fed.step_on_device(), std::logic_error);  // the episode is over
#endif
}

// The AuctionNet rule's pass control and drop selection on the device (issue 15 item 2): markets
// whose budgets are a small fraction of what the agents win, so steps take many drop rounds: the
// first two on the whole grid, the rest in overspend_tail_kernel (one block per env), some running
// into max_passes (then truncating: at the first tail decision with max_passes 1 and 2, later with
// 3), with dense and sparse candidates (the tail's re-auctions use the lane groups' shared sparse rows)
// and with N above kMaxSharedSumAgents (the tail's pass costs in global memory). Every field must
// stay bit-identical to the CPU backend after every step.
TEST_CASE("CUDA equals CPU on markets with many overspend passes", "[cuda][passes]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  struct Market {
    int max_passes, slots, agents, sparse_candidates, impressions;
  };
  for (const Market m : {Market{64, 1, 12, 0, 300}, Market{64, 3, 12, 0, 300}, Market{3, 1, 12, 0, 300},
                         Market{3, 3, 12, 0, 300}, Market{2, 3, 12, 0, 300}, Market{1, 3, 12, 0, 300},
                         Market{64, 3, 40, 6, 300}, Market{64, 2, 1100, 8, 60}}) {
    std::ostringstream y;
    y << "name: many-passes\nseed: " << 31 * m.max_passes + m.slots + m.agents << "\nmarket: {envs: 3, steps: 4}\n"
      << "agents: {count: " << m.agents << ", budget: {uniform: [0.05, 0.6]}, value_scale: {uniform: [0.5, 1.5]}}\n"
      << "impressions: {per_step: " << m.impressions << "}\n"
      << "values: {model: procedural, distribution: lognormal, sigma: 0.7}\n"
      << "mechanism: {type: gsp, slots: " << m.slots << ", exposure: [1, 0.8, 0.6]}\n"
      << "budget: {overspend: auctionnet, max_passes: " << m.max_passes << "}\n";
    if (m.sparse_candidates > 0) y << "candidates: {mode: sparse, per_impression: " << m.sparse_candidates << "}\n";
    std::string yaml = y.str();
    const char* exposure[] = {"[1]", "[1, 0.8]"};
    if (m.slots < 3) yaml.replace(yaml.find("[1, 0.8, 0.6]"), 13, exposure[m.slots - 1]);
    INFO(yaml);
    const Scenario s = bidsim::parse_scenario(yaml, "many-passes.yaml");
    const Coverage c = compare_backends(s, 0, false);
    CHECK(c.extra_passes >= 3 * 4);  // more than one drop round per env and step on average
    CHECK(c.most_passes >= std::min(3, m.max_passes + 1));  // the tail kernel decided, or truncated
    compare_backends(s, 1, true);
  }
}

// cudaFuncSetAttribute (the auction kernel's dynamic shared-memory limit) is process-wide state
// (issue 15 item 6): a second backend that needs less than the first, but more than the 48 KB
// default, must not lower the limit under the first. Both markets need more than 48 KB (sparse
// rows of 8 lane groups, a warp each as K > 32, x K candidates plus the bid histogram); the first
// steps after the second exists.
TEST_CASE("CUDA backends never lower each other's shared-memory limit", "[cuda][attributes]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  auto sparse_market = [](int N, int K) {
    return "name: wide\nmarket: {envs: 1, steps: 1}\nagents: {count: " + std::to_string(N) + "}\n" +
           "impressions: {per_step: 2}\ncandidates: {mode: sparse, per_impression: " + std::to_string(K) + "}\n" +
           "mechanism: {type: gsp, slots: 1}\n";
  };
  const Scenario larger = bidsim::parse_scenario(sparse_market(3000, 2000), "wide.yaml");
  const Scenario smaller = bidsim::parse_scenario(sparse_market(2000, 1400), "wide.yaml");
  Simulator first(larger, Device::cuda);
  Simulator second(smaller, Device::cuda);
  Simulator cpu(larger, Device::cpu, 1);
  std::vector<float> m(3000, 1.0f);
  first.step(m.data());
  cpu.step(m.data());
  const std::string d = state_difference(cpu.state(), first.state());
  INFO(d);
  CHECK(d.empty());
  second.step(m.data());
  CHECK(second.state().step == 1);
}

// The auction kernel's lane groups (cuda/auction_lanes.hpp): lanes per impression = the smallest
// power of two at least the work of its candidate loop (dense: ceil(N / 4) Philox calls; sparse: K
// candidates; file values: the mean row length, rounded up), at most a warp.
TEST_CASE("The auction kernel's lane group width follows the scenario's work per impression", "[cuda][lanes]") {
  using bidsim::cuda::auction_group_lanes;
  auto dense = [](int N) {
    return bidsim::parse_scenario("name: dense\nagents: {count: " + std::to_string(N) + "}\n", "dense.yaml");
  };
  auto sparse = [](int N, int K) {
    return bidsim::parse_scenario("name: sparse\nagents: {count: " + std::to_string(N) +
                                      "}\ncandidates: {mode: sparse, per_impression: " + std::to_string(K) + "}\n",
                                  "sparse.yaml");
  };
  for (const auto& [N, lanes] : std::vector<std::pair<int, int>>{
           {1, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 4}, {48, 16}, {64, 16}, {65, 32}, {128, 32}, {129, 32}, {10000, 32}}) {
    INFO("dense N = " << N);
    CHECK(auction_group_lanes(dense(N)) == lanes);
  }
  for (const auto& [K, lanes] : std::vector<std::pair<int, int>>{{1, 1}, {2, 2}, {3, 4}, {8, 8}, {9, 16}, {32, 32}, {33, 32}, {500, 32}}) {
    INFO("sparse K = " << K);
    CHECK(auction_group_lanes(sparse(1000, K)) == lanes);
  }
  // The AuctionNet preset: 48 agents, 12 Philox calls per impression: two impressions per warp.
  CHECK(auction_group_lanes(bidsim::load_scenario(scenario_path("auctionnet.yaml"))) == 16);
  // File values: 3 impressions with 2, 3 and 6 rows (mean 11 / 3, rounded up to 4), then one more
  // impression of 6 rows (mean 17 / 4 -> 5 -> 8 lanes).
  for (const auto& [impressions, lanes] : std::vector<std::pair<int, int>>{{3, 4}, {4, 8}}) {
    std::vector<bidsim_test::ValueRow> rows;
    const int lengths[] = {2, 3, 6, 6};
    for (int j = 0; j < impressions; ++j)
      for (int i = 0; i < lengths[j]; ++i) rows.push_back({0, j, i, 0.5f});
    bidsim_test::TempDir dir;
    dir.write("values.csv", bidsim_test::value_csv(rows));
    const Scenario s = bidsim::parse_scenario("name: rows\nmarket: {steps: 1}\nagents: {count: 8}\n"
                                              "values: {model: file, file: values.csv}\n",
                                              "rows.yaml", {}, dir.path());
    INFO(impressions << " file impressions");
    CHECK(auction_group_lanes(s) == lanes);
  }
}

// Markets for each group width, with impression counts that are not a multiple of the groups per
// warp (32 / width) nor of a tile, so the last warp of a tile has groups without an impression, and
// budgets tight enough that the AuctionNet rule re-auctions on the grid and in overspend_tail_kernel
// (whose warps hand their marked impressions to their groups in turn). Bit-identical to the CPU.
TEST_CASE("CUDA equals CPU with lane groups of every width and partly filled warps", "[cuda][lanes]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  struct Market {
    int agents, sparse_candidates, impressions, lanes;
  };
  for (const Market m : {Market{3, 0, 45, 1}, Market{6, 0, 37, 2}, Market{40, 3, 61, 4}, Market{30, 7, 83, 8},
                         Market{48, 0, 77, 16}, Market{40, 12, 101, 16}, Market{200, 0, 77, 32}}) {
    std::ostringstream y;
    y << "name: lanes\nseed: " << 7 * m.agents + m.sparse_candidates << "\nmarket: {envs: 3, steps: 4}\n"
      << "agents: {count: " << m.agents << ", categories: 2, budget: {uniform: [0.05, 0.8]}, "
      << "value_scale: {uniform: [0.5, 1.5]}}\n"
      << "impressions: {per_step: " << m.impressions << "}\n"
      << "values: {model: procedural, distribution: lognormal, sigma: 0.7, cross_category: 0.5}\n"
      << "mechanism: " << (m.agents < 4 ? "{type: second_price}" : "{type: gsp, slots: 3, exposure: [1, 0.8, 0.6]}") << "\n"
      << "budget: {overspend: auctionnet, max_passes: 64}\n";
    if (m.sparse_candidates > 0)
      y << "candidates: {mode: sparse, per_impression: " << m.sparse_candidates
        << ", within_category: " << (m.sparse_candidates == 12 ? "true" : "false") << "}\n";
    const std::string yaml = y.str();
    INFO(yaml);
    const Scenario s = bidsim::parse_scenario(yaml, "lanes.yaml");
    REQUIRE(bidsim::cuda::auction_group_lanes(s) == m.lanes);
    REQUIRE((m.impressions % (32 / m.lanes) != 0 || m.lanes == 32));
    const Coverage c = compare_backends(s, 0, false);
    CHECK(c.wins > 0);
    CHECK(c.most_passes >= 3);  // the tail kernel re-auctioned
    compare_backends(s, 1, true);
  }
}
