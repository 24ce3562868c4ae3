// The CUDA backend's device counters (engine/device_counters.hpp, issue 15 item 4): exact counts of
// kernel launches, CUB calls, memsets, host synchronizations and copies per step on a hand-sized
// market, the host copies of the state outside the steps, and the bounds of the overspend rule's
// pass control on the AuctionNet preset. The counts come from the backend's own calls, so they are
// the same on a GPU and on the host emulator (where these [cuda] cases run without a GPU).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/observation.hpp"
#include "engine/policies.hpp"
#include "engine/scenario.hpp"
#include "engine/simulator.hpp"
#include "cuda_test_support.hpp"

#ifdef BIDSIM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace {

using bidsim::DeviceCounters;
using bidsim::DeviceCounts;
using bidsim::Device;
using bidsim::Scenario;
using bidsim::Simulator;

// A hand-sized market: 2 envs x 3 agents, 8 impressions per step, 2 slots, budgets tight enough that
// the AuctionNet rule re-auctions (checked by the test, which needs some step with passes > 1).
std::string small_market(const std::string& rule) {
  return "name: counted\nseed: 7\nmarket: {envs: 2, steps: 4}\n"
         "agents: {count: 3, budget: [0.6, 1.1, 0.8], value_scale: [1.0, 1.2, 0.9]}\n"
         "impressions: {per_step: 8}\n"
         "values: {model: procedural, distribution: uniform}\n"
         "mechanism: {type: gsp, slots: 2, exposure: [1, 0.7]}\n"
         "budget: {overspend: " + rule + ", max_passes: 64}\n";
}

// What a step costs, derived from cuda_backend.cpp's pipeline (the test restates the design):
//   prepare_agents, the first auction pass and start_passes: 3 launches;
//   each decision of the overspend rule: pass_cost, overspenders, env_decide, truncate,
//     finish_truncate (5 launches) after zeroing pass_cost and two control words (2 memsets);
//   settle: settle_outcomes + settle_agents (2 launches) after zeroing 5 step arrays; observations: 1.
// The AuctionNet rule enqueues `decisions` decisions with a drop round between two of them
// (count_drop_wins, scan_drop_buckets, scatter_drop_wins, select_drops, the re-auction and
// advance_passes: 6 launches, no CUB call), reads two control words `reads` times (a copy and a
// host synchronization each) and zeroes the drop bitmap (1 memset).
DeviceCounts expected_step(bool auctionnet_rule, int decisions, int reads, std::int64_t multiplier_bytes) {
  DeviceCounts c;
  c.h2d_copies = 1;
  c.h2d_bytes = multiplier_bytes;
  c.kernel_launches = 3 + 5 * decisions + 2 + 1;
  c.memsets = 2 * decisions + 5;
  if (auctionnet_rule) {
    c.kernel_launches += 6 * (decisions - 1);
    c.memsets += 1;
    c.host_synchronizations = reads;
    c.d2h_copies = reads;
    c.d2h_bytes = 8 * reads;
  }
  return c;
}

// The decisions the AuctionNet rule enqueues in a step that needs `needed` (its largest pass count)
// and the reads it makes, as cuda_backend.cpp's auctionnet_overspend chooses them: a burst (2 at an
// episode's start, then the last step's need + 1), read once, doubled (up to max_passes + 1) and
// read again while an env is still open.
struct DecisionBurst {
  int burst = 2;
  std::pair<int, int> enqueued_and_reads(int needed, int max_passes) {
    const int most = max_passes + 1;
    int decisions = std::min(burst, most), reads = 1;
    while (decisions < needed) {
      decisions = std::min(2 * decisions, most);
      ++reads;
    }
    burst = needed + 1;
    return {decisions, reads};
  }
};

// One host copy of the state (cuda_backend.cpp download_state): 24 copies, then one synchronization.
DeviceCounts expected_state_copy(int E, int N, int T) {
  const std::int64_t EN = static_cast<std::int64_t>(E) * N;
  DeviceCounts c;
  c.d2h_copies = 24;
  // 9 double, 3 int64, 3 int32 and 1 float per-agent fields, the observation rows, 5 exact money
  // accounts, passes [E][T] (int32) and revenue [E] (int64).
  c.d2h_bytes = EN * (9 * 8 + 3 * 8 + 3 * 4 + 4 + 4 * bidsim::kObservationWidth + 5 * 8) + 4LL * E * T + 8LL * E;
  c.host_synchronizations = 1;
  return c;
}

std::string describe(const DeviceCounts& c) {
  std::string s;
  for (const auto& [name, field] : bidsim::kDeviceCountFields) s += std::string(name) + "=" + std::to_string(c.*field) + " ";
  return s;
}

}  // namespace

TEST_CASE("Device counters: exact counts per step on a hand-sized market", "[cuda][counters]") {
  if (bidsim_test::skip_without_cuda_device()) return;
  for (const std::string rule : {"truncate", "auctionnet"}) {
    SECTION(rule) {
      const Scenario s = bidsim::parse_scenario(small_market(rule), "counted.yaml");
      const int E = s.market.envs, N = s.agents.count, T = s.market.steps;
      Simulator gpu(s, Device::cuda);
      bidsim::BuiltinPolicies policies(s);
      REQUIRE(gpu.device_counters() != nullptr);
      gpu.reset(0);
      policies.reset();
      const DeviceCounts outside_after_reset = gpu.device_counters()->outside_steps;
      CHECK(gpu.device_counters()->steps.empty());
      std::vector<float> m(static_cast<std::size_t>(E) * N);
      int most_passes = 0;
      DecisionBurst burst;
      for (int t = 0; t < T; ++t) {
        policies.act(gpu.state(), m.data());
        gpu.step(m.data());
        const bidsim::MarketState& st = gpu.state();
        int needed = 1;
        for (int e = 0; e < E; ++e) needed = std::max(needed, st.passes[static_cast<std::size_t>(e) * T + t]);
        most_passes = std::max(most_passes, needed);
        const auto [decisions, reads] =
            rule == "auctionnet" ? burst.enqueued_and_reads(needed, s.budget.max_passes) : std::pair<int, int>{1, 0};
        const DeviceCounters& c = *gpu.device_counters();
        REQUIRE(c.steps.size() == static_cast<std::size_t>(t + 1));
        const DeviceCounts expected = expected_step(rule == "auctionnet", decisions, reads, 4LL * E * N);
        INFO("step " << t << ", " << decisions << " decisions: counted " << describe(c.steps[t]) << "; expected "
                     << describe(expected));
        CHECK(c.steps[t] == expected);
      }
      if (rule == "auctionnet") CHECK(most_passes > 1);  // the market reached the drop path
      // Outside the steps: the T + 1 host copies of the state made by state() above.
      const DeviceCounters& c = *gpu.device_counters();
      DeviceCounts copies;
      for (int k = 0; k <= T; ++k) copies += expected_state_copy(E, N, T);
      CHECK(describe(c.outside_steps - outside_after_reset) == describe(copies));
      DeviceCounts inside;
      for (const DeviceCounts& step : c.steps) inside += step;
      inside += c.outside_steps;
      CHECK(c.total == inside);
      // A reset starts a new list of steps.
      gpu.reset(1);
      CHECK(gpu.device_counters()->steps.empty());
    }
  }
}

TEST_CASE("Device counters: the CPU backend has none", "[counters]") {
  const Scenario s = bidsim::parse_scenario(small_market("truncate"), "counted.yaml");
  Simulator cpu(s, Device::cpu, 1);
  CHECK(cpu.device_counters() == nullptr);
}

TEST_CASE("Device counts add, subtract and compare field by field", "[counters]") {
  DeviceCounts a, b;
  a.kernel_launches = 5;
  a.h2d_bytes = 96;
  b.kernel_launches = 2;
  b.d2h_bytes = 4;
  DeviceCounts sum = a;
  sum += b;
  CHECK(sum.kernel_launches == 7);
  CHECK(sum.h2d_bytes == 96);
  CHECK(sum.d2h_bytes == 4);
  CHECK(sum - b == a);
  CHECK(!(sum == a));
  CHECK(std::size(bidsim::kDeviceCountFields) == 8);
}

// Issue 15 item 2 with policies on the device (tagged [scenarios]: a whole preset episode, so CTest
// skips it in the reverse-order pass): the AuctionNet preset's steps (multipliers written straight
// into the device tensor, state read only outside the steps) copy nothing to the device, call no
// CUB sort, read 8 bytes per synchronization, synchronize once in most steps (before: once per
// decision, 2.81 per step) and at most 1 + log2(65 / 2) rounded up = 7 times in any step.
TEST_CASE("Device counters: the AuctionNet preset's steps mostly synchronize once", "[cuda][counters][auctionnet][scenarios]") {
  if (bidsim_test::skip_without_cuda_device()) return;
#ifdef BIDSIM_HAVE_CUDA
  const Scenario s = bidsim::load_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/auctionnet.yaml");
  const int E = s.market.envs, N = s.agents.count, T = s.market.steps;
  Simulator gpu(s, Device::cuda);
  bidsim::BuiltinPolicies policies(s);
  gpu.reset(0);
  policies.reset();
  const bidsim::DeviceTensorView in = gpu.device_tensor(bidsim::MarketTensor::multipliers);
  std::vector<float> m(static_cast<std::size_t>(E) * N);
  long long passes = 0;
  for (int t = 0; t < T; ++t) {
    policies.act(gpu.state(), m.data());
    REQUIRE(cudaMemcpy(in.data, m.data(), m.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
    gpu.step_on_device();
  }
  const bidsim::MarketState& st = gpu.state();
  for (int e = 0; e < E; ++e)
    for (int t = 0; t < T; ++t) passes += st.passes[static_cast<std::size_t>(e) * T + t];
  const DeviceCounters& c = *gpu.device_counters();
  REQUIRE(c.steps.size() == static_cast<std::size_t>(T));
  DeviceCounts inside;
  std::int64_t most_launches = 0;
  for (const DeviceCounts& step : c.steps) {
    INFO(describe(step));
    CHECK(step.host_synchronizations >= 1);
    CHECK(step.host_synchronizations <= 7);
    CHECK(step.d2h_copies == step.host_synchronizations);
    CHECK(step.d2h_bytes == 8 * step.host_synchronizations);
    CHECK(step.h2d_copies == 0);
    CHECK(step.cub_calls == 0);
    inside += step;
    most_launches = std::max(most_launches, step.kernel_launches);
  }
  CHECK(inside.host_synchronizations * 4 <= 5 * T);  // at most 1.25 per step on average
  WARN("AuctionNet preset, " << T << " steps, " << passes << " auction passes: " << describe(inside)
                             << "; most launches in a step " << most_launches);
  CHECK(passes > T);  // the preset re-auctions
#endif
}
