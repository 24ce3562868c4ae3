// Per-impression bids (engine/core/impression_bids.hpp): hand-computed steps on a tiny file-valued market,
// the key invariant (bids = multiplier x observed value give the multiplier step's state bit for bit,
// on generated markets and the AuctionNet preset, both overspend rules), bad input, and the
// mechanism.frozen_noise option (deterministic, differs from the default, keyed without the tick).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/impression_bids.hpp"
#include "engine/core/physics.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "test_support.hpp"

using bidsim::ImpressionOutcomes;
using bidsim::MarketState;
using bidsim::Scenario;
using bidsim::Simulator;
using bidsim::StepImpressions;
using bidsim_test::FileMarket;
using bidsim_test::ValueRow;

namespace {

// Two impressions, three agents, two GSP slots, reserve 1, every slot shown.
const char* kTinyGsp = R"(
market: {envs: 1, steps: 2}
agents: {count: 3, budget: 100}
mechanism: {type: gsp, slots: 2, reserve: 1, unsold_at_reserve: true}
budget: {overspend: truncate, floor: 0.5}
)";

// Step 0 and 1: impression 0 values 0.5, 0.25, 0.125; impression 1 values 1, 0.5, 0.25 (agents 0..2).
std::vector<ValueRow> tiny_values() {
  std::vector<ValueRow> rows;
  for (int t = 0; t < 2; ++t) {
    rows.push_back({t, 0, 0, 0.5f});
    rows.push_back({t, 0, 1, 0.25f});
    rows.push_back({t, 0, 2, 0.125f});
    rows.push_back({t, 1, 0, 1.0f});
    rows.push_back({t, 1, 1, 0.5f});
    rows.push_back({t, 1, 2, 0.25f});
  }
  return rows;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Every field of two states bit for bit, the exact accounts included, except step_multiplier (a bids
// step records 0 there, the multiplier step its multipliers).
bool same_state(const MarketState& a, const MarketState& b) {
  bool same = a.step == b.step;
  MarketState::for_each_field([&](const bidsim::FieldInfo& f, auto member) {
    same = same && (std::strcmp(f.name, "step_multiplier") == 0 || same_bits(a.*member, b.*member));
  });
  return same;
}

// bids[r][i] = max(multiplier[e][i], 0) x value[r][i]: the float product the multiplier step forms.
std::vector<float> bids_of(const StepImpressions& view, const std::vector<float>& multipliers) {
  const int N = view.agents;
  std::vector<float> bids(view.value.size());
  for (std::size_t e = 0; e + 1 < view.offset.size(); ++e)
    for (std::int64_t r = view.offset[e]; r < view.offset[e + 1]; ++r)
      for (int i = 0; i < N; ++i) {
        const float m = multipliers[e * N + i];
        bids[static_cast<std::size_t>(r) * N + i] = (m > 0.0f ? m : 0.0f) * view.value[static_cast<std::size_t>(r) * N + i];
      }
  return bids;
}

// Runs an episode twice, with the built-in policies' multipliers (perturbed) and with the bids they
// imply, comparing the whole state after every step. Returns the extra auction passes it covered.
long long check_bids_equal_multipliers(const Scenario& scenario, bidsim::Device device, std::uint64_t episode) {
  Simulator by_multiplier(scenario, bidsim::Device::cpu, 2);
  Simulator by_bids(scenario, device, 2);
  bidsim::BuiltinPolicies policies(scenario);
  by_multiplier.reset(episode);
  by_bids.reset(episode);
  policies.reset();
  std::mt19937 rng(static_cast<unsigned>(episode) + 5u);
  const int E = scenario.market.envs, N = scenario.agents.count;
  std::vector<float> multipliers(static_cast<std::size_t>(E) * N);
  StepImpressions view;
  ImpressionOutcomes outcomes;
  long long extra_passes = 0;
  for (int t = 0; t < scenario.market.steps; ++t) {
    policies.act(by_multiplier.state(), multipliers.data());
    for (float& m : multipliers) {
      const unsigned k = rng() % 10;
      if (k == 0) m = 0.0f;
      else if (k < 4) m *= 0.5f + static_cast<float>(rng() % 1000) / 400.0f;
    }
    by_bids.observe_impressions(view);
    REQUIRE(view.step == t);
    const std::vector<float> bids = bids_of(view, multipliers);
    by_multiplier.step(multipliers.data());
    by_bids.step_bids(bids.data(), bids.size(), &outcomes);
    INFO("scenario " << scenario.name << ", episode " << episode << ", step " << t);
    REQUIRE(same_state(by_multiplier.state(), by_bids.state()));
    for (int e = 0; e < E; ++e) extra_passes += by_multiplier.state().passes[static_cast<std::size_t>(e) * scenario.market.steps + t] - 1;
    // The outcomes add up to the state's step accounts.
    std::vector<double> cost(static_cast<std::size_t>(E) * N, 0.0);
    std::vector<std::int32_t> wins(cost.size(), 0), exposures(cost.size(), 0), conversions(cost.size(), 0);
    const int S = scenario.mechanism.slots;
    for (int e = 0; e < E; ++e)
      for (std::int64_t r = outcomes.offset[e]; r < outcomes.offset[e + 1]; ++r)
        for (int s = 0; s < S; ++s) {
          const std::size_t q = static_cast<std::size_t>(r) * S + s;
          if (outcomes.winner[q] < 0) continue;
          const std::size_t a = static_cast<std::size_t>(e) * N + outcomes.winner[q];
          ++wins[a];
          if (outcomes.charged[q]) cost[a] += outcomes.price[q];
          exposures[a] += outcomes.exposed[q];
          conversions[a] += outcomes.converted[q];
        }
    const MarketState& st = by_bids.state();
    for (std::size_t a = 0; a < cost.size(); ++a) {
      CHECK(wins[a] == st.step_wins[a]);
      CHECK(exposures[a] == st.step_exposures[a]);
      CHECK(conversions[a] == st.step_conversions[a]);
      CHECK(cost[a] == Approx(st.step_cost[a]).epsilon(1e-9));
    }
  }
  return extra_passes;
}

// A small procedural market with tight budgets (so the overspend rule binds), AuctionNet-like slots.
std::string generated_market(std::mt19937& rng, const std::string& overspend) {
  const int N = 3 + static_cast<int>(rng() % 20), slots = 1 + static_cast<int>(rng() % 3);
  const char* exposure[] = {"[1]", "[1, 0.8]", "[1, 0.8, 0.6]"};
  std::ostringstream y;
  y << "name: generated\nseed: " << rng() % 1000 << "\nmarket: {envs: 3, steps: 4}\n"
    << "agents: {count: " << N << ", categories: " << 1 + rng() % 3 << ", budget: {uniform: [0.5, 30]}}\n"
    << "impressions: {per_step: " << 50 + rng() % 200 << "}\n"
    << "values: {model: procedural, distribution: lognormal, sigma: 0.7, cross_category: 0.5}\n"
    << "mechanism: {type: gsp, slots: " << slots << ", exposure: " << exposure[slots - 1]
    << ", exposure_cascade: true, charge: on_exposure, reserve: 0.1, unsold_at_reserve: true}\n"
    << "budget: {floor: 0.2, overspend: " << overspend << "}\nreward: conversions\n";
  return y.str();
}

Scenario small_auctionnet(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> overrides = {"impressions.total=30000", "market.envs=2", "market.steps=12",
                                        "impressions.profile=[" + std::string("1,1,1,1,1,1,1,1,1,1,1,1") + "]"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return bidsim::load_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/auctionnet.yaml", overrides);
}

}  // namespace

TEST_CASE("step_bids: hand-computed GSP step with a reserve, the floor and the least winning cost", "[bids]") {
  FileMarket m(kTinyGsp, tiny_values());
  Simulator& sim = m->sim();
  StepImpressions view;
  sim.observe_impressions(view);
  REQUIRE(view.offset == std::vector<std::int64_t>{0, 2});
  CHECK(view.value == std::vector<float>{0.5f, 0.25f, 0.125f, 1.0f, 0.5f, 0.25f});
  CHECK(view.sigma == std::vector<float>(6, 0.0f));  // only the AuctionNet model has a sigma
  // Impression 0: bids 5, 3, 2 -> slot 1 agent 0 pays 3, slot 2 agent 1 pays 2; least winning cost =
  // max(3rd bid, reserve) = max(2, 1) = 2 (the price slot 2 pays: (S+1)-th bid with S = 2 slots).
  // Impression 1: bids 4, 0.5 (below the reserve: no bid), 1 -> slot 1 agent 0 pays max(1, 1) = 1, which
  // equals the reserve: unsold (unsold_at_reserve); slot 2 agent 2 pays the reserve: unsold too.
  const std::vector<float> bids = {5, 3, 2, 4, 0.5f, 1};
  ImpressionOutcomes out;
  sim.step_bids(bids.data(), bids.size(), &out);
  CHECK(out.winner == std::vector<std::int32_t>{0, 1, -1, -1});
  CHECK(out.price == std::vector<double>{3.0, 2.0, 0.0, 0.0});
  CHECK(out.exposed == std::vector<std::uint8_t>{1, 1, 0, 0});
  CHECK(out.charged == std::vector<std::uint8_t>{1, 1, 0, 0});
  CHECK(out.least_winning_cost == std::vector<double>{2.0, 1.0});
  const MarketState& s = sim.state();
  CHECK(s.step_cost == std::vector<double>{3.0, 2.0, 0.0});
  CHECK(s.step_value == std::vector<double>{0.5, 0.25, 0.0});  // the winner's value, not its bid
  CHECK(s.step_bid_count == std::vector<std::int32_t>{2, 1, 2});  // 0.5 < reserve does not count
  CHECK(s.step_multiplier == std::vector<float>{0, 0, 0});        // a bids step has no multiplier
  CHECK(s.remaining_budget == std::vector<double>{97.0, 98.0, 100.0});
}

TEST_CASE("step_bids: agents below budget.floor do not bid, whatever their row says", "[bids]") {
  FileMarket m(kTinyGsp, tiny_values(), {"agents.budget=[100, 0.25, 100]"});
  Simulator& sim = m->sim();
  // Agent 1 has 0.25 < floor 0.5: its bids 9 are ignored. Impression 0: 5 and 2 -> agent 0 pays 2,
  // agent 2 pays the reserve 1 = unsold; least winning cost max(0, 1) = 1.
  const std::vector<float> bids = {5, 9, 2, 5, 9, 2};
  ImpressionOutcomes out;
  sim.step_bids(bids.data(), bids.size(), &out);
  CHECK(out.winner == std::vector<std::int32_t>{0, -1, 0, -1});
  CHECK(out.price == std::vector<double>{2.0, 0.0, 2.0, 0.0});
  CHECK(sim.state().step_bid_count == std::vector<std::int32_t>{2, 0, 2});
  CHECK(sim.state().remaining_budget[1] == 0.25);
}

TEST_CASE("step_bids: the AuctionNet overspend rule drops wins and re-auctions, as for multipliers", "[bids]") {
  // Agent 0's budget 1.5 cannot pay both wins at 1.2 each: the rule drops ceil(ratio x 2) of them and
  // re-auctions; the state equals the multiplier step with the same bids.
  const char* yaml = R"(
market: {envs: 1, steps: 1}
agents: {count: 3, budget: [1.5, 100, 100]}
mechanism: {type: second_price, reserve: 0}
budget: {overspend: auctionnet}
)";
  std::vector<ValueRow> rows = {{0, 0, 0, 3.0f}, {0, 0, 1, 1.2f}, {0, 0, 2, 1.0f},
                                {0, 1, 0, 3.0f}, {0, 1, 1, 1.2f}, {0, 1, 2, 1.0f}};
  FileMarket a(yaml, rows), b(yaml, rows);
  const std::vector<float> bids = {3.0f, 1.2f, 1.0f, 3.0f, 1.2f, 1.0f};
  ImpressionOutcomes out;
  a->sim().step_bids(bids.data(), bids.size(), &out);
  b->step_all(1.0f);
  CHECK(same_state(a->state(), b->state()));
  CHECK(a->state().passes[0] >= 2);
  CHECK(a->state().cost[0] <= 1.5);
  // One impression went to agent 1 at agent 2's bid after agent 0's drop.
  CHECK(a->state().wins[0] == 1);
  CHECK(a->state().wins[1] == 1);
  CHECK((out.winner == std::vector<std::int32_t>{0, 1} || out.winner == std::vector<std::int32_t>{1, 0}));
}

TEST_CASE("step_bids: bids = multiplier x observed value equal the multiplier step bit for bit", "[bids][property]") {
  std::mt19937 rng(2026);
  long long extra_passes = 0;
  for (int k = 0; k < 6; ++k) {
    const Scenario s = bidsim::parse_scenario(generated_market(rng, k % 2 ? "truncate" : "auctionnet"), "gen.yaml");
    extra_passes += check_bids_equal_multipliers(s, bidsim::Device::cpu, static_cast<std::uint64_t>(k));
  }
  CHECK(extra_passes > 0);  // the overspend rule's re-auctions were exercised
}

TEST_CASE("step_bids: the AuctionNet preset with bids = alpha x pValue equals the multiplier step", "[bids][auctionnet]") {
  for (const bool frozen : {false, true}) {
    const Scenario s = small_auctionnet({std::string("mechanism.frozen_noise=") + (frozen ? "true" : "false")});
    CHECK(check_bids_equal_multipliers(s, bidsim::Device::cpu, 3) >= 0);
  }
}

TEST_CASE("step_bids: the AuctionNet sigma is ratio x pValue with the ratio the conversion uses", "[bids][auctionnet]") {
  const Scenario s = small_auctionnet();
  Simulator sim(s, bidsim::Device::cpu, 1);
  sim.reset(0);
  StepImpressions view;
  sim.observe_impressions(view);
  const int N = s.agents.count;
  REQUIRE(view.rows() > 100);
  double ratio_sum = 0;
  long long positive = 0, zero_values = 0;
  for (std::int64_t r = 0; r < view.rows(); ++r)
    for (int i = 0; i < N; ++i) {
      const float v = view.value[static_cast<std::size_t>(r) * N + i], g = view.sigma[static_cast<std::size_t>(r) * N + i];
      REQUIRE(v >= 0.0f);
      REQUIRE(v <= 1.0f);
      REQUIRE(g >= 0.0f);
      REQUIRE(g <= 0.3f * v * 1.0000001f);  // ratio capped at sigma_ratio_cap
      if (v > 0) {
        ratio_sum += g / v;
        ++positive;
      } else {
        ++zero_values;
      }
    }
  // The ratio |N(m_a, m_a/2)| with m_a ~ |N(0.15, 0.06)|: its mean is near 0.15.
  CHECK(ratio_sum / positive == Approx(0.15).margin(0.04));
  CHECK(zero_values > 0);  // about 3% of pValues are clipped to 0
}

TEST_CASE("step_bids: bad input is a clear one-line UsageError", "[bids][errors]") {
  FileMarket m(kTinyGsp, tiny_values());
  Simulator& sim = m->sim();
  std::vector<float> bids = {5, 3, 2, 4, 1, 1};
  auto message = [&](std::size_t count) {
    try {
      sim.step_bids(bids.data(), count);
    } catch (const bidsim::UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message(5) == "Simulator::step_bids: bids: got 5 values, expected impressions x agents = 2 x 3 = 6");
  bids[4] = std::numeric_limits<float>::quiet_NaN();
  CHECK(message(6) == "Simulator::step_bids: bids[1, 1]: got nan, expected a finite number >= 0 (0 = no bid)");
  bids[4] = -1.0f;
  CHECK(message(6) == "Simulator::step_bids: bids[1, 1]: got -1, expected a finite number >= 0 (0 = no bid)");
  bids[4] = std::numeric_limits<float>::infinity();
  CHECK(message(6) == "Simulator::step_bids: bids[1, 1]: got inf, expected a finite number >= 0 (0 = no bid)");
  CHECK(sim.step_index() == 0);  // nothing ran
  bids[4] = 1.0f;
  sim.step_bids(bids.data(), 6);
  sim.step_bids(bids.data(), 6);
  CHECK_THROWS_AS(sim.step_bids(bids.data(), 6), std::logic_error);

  const Scenario sparse = bidsim::parse_scenario(
      "agents: {count: 4}\ncandidates: {mode: sparse, per_impression: 2}\nimpressions: {per_step: 3}\n", "sparse.yaml");
  Simulator sparse_sim(sparse, bidsim::Device::cpu, 1);
  StepImpressions view;
  CHECK_THROWS_WITH(sparse_sim.observe_impressions(view),
                    "Simulator::observe_impressions: sparse.yaml: candidates.mode: got 'sparse', expected 'dense' "
                    "(per-impression bids need every agent's value of every impression)");
}

TEST_CASE("frozen_noise: exposure, conversion and drop draws are keyed without the tick", "[bids][frozen]") {
  using bidsim::conversion_draw;
  const bidsim::Draw a = conversion_draw(7, 3, 0, 11, 5, true), b = conversion_draw(7, 3, 9, 11, 5, true);
  CHECK(a[0] == b[0]);
  CHECK(a[1] == b[1]);
  CHECK(a[2] != b[2]);  // the sigma ratio word stays the tick's own (what the agent observed)
  const bidsim::Draw c = conversion_draw(7, 3, 9, 11, 5, false);
  CHECK(c[2] == b[2]);
  CHECK(c[0] != b[0]);
  CHECK(bidsim::noise_step(9, true) == 0u);
  CHECK(bidsim::noise_step(9, false) == 9u);
}

TEST_CASE("frozen_noise: deterministic, and a different run from the default", "[bids][frozen]") {
  auto run = [](bool frozen) {
    const Scenario s = small_auctionnet({std::string("mechanism.frozen_noise=") + (frozen ? "true" : "false")});
    CHECK(s.mechanism.frozen_noise == frozen);
    Simulator sim(s, bidsim::Device::cpu, 2);
    bidsim::BuiltinPolicies policies(s);
    sim.reset(0);
    policies.reset();
    std::vector<float> m(static_cast<std::size_t>(s.market.envs) * s.agents.count);
    while (!sim.done()) {
      policies.act(sim.state(), m.data());
      sim.step(m.data());
    }
    return sim.state();
  };
  const MarketState frozen = run(true), frozen_again = run(true), fresh = run(false);
  CHECK(same_state(frozen, frozen_again));
  CHECK_FALSE(same_bits(frozen.conversions, fresh.conversions));
  CHECK(same_bits(frozen.impressions, fresh.impressions));  // traffic and values are not noise
  CHECK(bidsim_test::scenario_error("mechanism: {frozen_noise: 3}\n").find("mechanism.frozen_noise") != std::string::npos);
}

TEST_CASE("CUDA step_bids equals the CPU's: state and outcomes, bit for bit", "[cuda][bids]") {
  if (!bidsim::cuda_device_present()) {
    WARN("no CUDA device: skipped");
    return;
  }
  std::mt19937 rng(99);
  for (int k = 0; k < 4; ++k) {
    const Scenario s = k < 2 ? small_auctionnet({std::string("mechanism.frozen_noise=") + (k ? "true" : "false")})
                             : bidsim::parse_scenario(generated_market(rng, k % 2 ? "truncate" : "auctionnet"), "gen.yaml");
    check_bids_equal_multipliers(s, bidsim::Device::cuda, 1);
    Simulator cpu(s, bidsim::Device::cpu, 2), gpu(s, bidsim::Device::cuda);
    cpu.reset(2);
    gpu.reset(2);
    StepImpressions view_cpu, view_gpu;
    ImpressionOutcomes out_cpu, out_gpu;
    while (!cpu.done()) {
      cpu.observe_impressions(view_cpu);
      gpu.observe_impressions(view_gpu);
      REQUIRE(same_bits(view_cpu.value, view_gpu.value));
      REQUIRE(same_bits(view_cpu.sigma, view_gpu.sigma));
      std::vector<float> bids(view_cpu.value.size());
      for (std::size_t q = 0; q < bids.size(); ++q)  // arbitrary bids, not proportional to values
        bids[q] = rng() % 7 == 0 ? 0.0f : view_cpu.value[q] * static_cast<float>(rng() % 4000) / 10.0f;
      cpu.step_bids(bids.data(), bids.size(), &out_cpu);
      gpu.step_bids(bids.data(), bids.size(), &out_gpu);
      INFO("scenario " << s.name << ", step " << cpu.step_index());
      REQUIRE(same_state(cpu.state(), gpu.state()));
      REQUIRE(same_bits(out_cpu.winner, out_gpu.winner));
      REQUIRE(same_bits(out_cpu.price, out_gpu.price));
      REQUIRE(same_bits(out_cpu.exposed, out_gpu.exposed));
      REQUIRE(same_bits(out_cpu.charged, out_gpu.charged));
      REQUIRE(same_bits(out_cpu.converted, out_gpu.converted));
      REQUIRE(same_bits(out_cpu.least_winning_cost, out_gpu.least_winning_cost));
    }
  }
}
