// Sharding a batch across processes: a batch split into blocks of environments (what each MPI rank
// simulates) must equal the unsplit batch bit for bit, because every draw is keyed by the global env.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/mpi/communicator.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/mpi/shard.hpp"
#include "engine/facade/simulator.hpp"
#include "test_support.hpp"

namespace {

using bidsim::MarketState;
using bidsim::Scenario;

// An episode of `s` driven by its built-in policies (PID pacing keeps per-env controller state, so
// shards also check that the policies index envs locally).
MarketState run_policies(const Scenario& s, std::uint64_t episode, int threads = 1) {
  bidsim::Simulator sim(s, bidsim::Device::cpu, threads);
  bidsim::BuiltinPolicies policies(s);
  sim.reset(episode);
  std::vector<float> m(static_cast<std::size_t>(s.market.envs) * s.agents.count);
  while (!sim.done()) {
    policies.act(sim.state(), m.data());
    sim.step(m.data());
  }
  return sim.state();
}

// The states of consecutive shards glued back into one batch, every field in env order.
MarketState concatenate(const std::vector<MarketState>& parts) {
  MarketState out = parts.front();
  auto glue = [&](auto member) {
    auto& dst = out.*member;
    dst.clear();
    for (const MarketState& p : parts) dst.insert(dst.end(), (p.*member).begin(), (p.*member).end());
  };
  MarketState::for_each_field([&](const bidsim::FieldInfo&, auto member) { glue(member); });
  out.envs = 0;
  for (const MarketState& p : parts) out.envs += p.envs;
  return out;
}

MarketState run_split(const Scenario& s, int ranks, std::uint64_t episode) {
  std::vector<MarketState> parts;
  for (int r = 0; r < ranks; ++r) {
    const bidsim::dist::EnvBlock b = bidsim::dist::env_block(s.market.envs, r, ranks);
    parts.push_back(run_policies(bidsim::shard_scenario(s, b.first, b.count), episode));
  }
  return concatenate(parts);
}

void check_split_equals_whole(const Scenario& s) {
  for (std::uint64_t episode : {0u, 2u}) {
    const MarketState whole = run_policies(s, episode, 2);
    for (int ranks : {2, 3}) {
      INFO("episode " << episode << ", " << ranks << " shards");
      const MarketState split = run_split(s, ranks, episode);
      CHECK(split.envs == whole.envs);
      CHECK(bidsim_test::state_fields(split) == bidsim_test::state_fields(whole));
    }
  }
}

// Busy GSP market: categories, the overspend rule, PID pacing, and deviations in envs of both halves.
const char* kShardMarket = R"(
seed: 11
market: {envs: 5, steps: 6}
agents: {count: 12, categories: 3, budget: {uniform: [2, 20]}, value_scale: {uniform: [0.5, 1.5]}}
impressions: {per_step: 200}
values: {model: procedural, distribution: lognormal, sigma: 0.8, cross_category: 0.5}
mechanism: {type: gsp, slots: 2, exposure: [1, 0.6], exposure_cascade: true, reserve: 0.05}
budget: {floor: 0.1, overspend: auctionnet}
policies:
  - {name: truthful, type: truthful, agents: {range: [0, 4]}}
  - {name: shaded, type: constant, multiplier: 0.8, agents: {range: [4, 8]}}
  - {name: paced, type: pid, agents: {range: [8, 12]}}
deviations:
  - {env: 1, agent: 0, policy: paced}
  - {env: 4, agent: 9, policy: truthful}
)";

}  // namespace

TEST_CASE("env_block: contiguous blocks in rank order cover the batch, sizes differ by at most one", "[shard]") {
  for (int total : {1, 2, 5, 7, 64})
    for (int size = 1; size <= total; ++size) {
      int next = 0;
      for (int r = 0; r < size; ++r) {
        const bidsim::dist::EnvBlock b = bidsim::dist::env_block(total, r, size);
        CHECK(b.first == next);
        CHECK(b.count >= total / size);
        CHECK(b.count <= total / size + 1);
        next += b.count;
      }
      CHECK(next == total);
    }
  const bidsim::dist::BlockLayout layout = bidsim::dist::block_layout(5, 2, 12);
  CHECK(layout.counts == std::vector<int>{36, 24});
  CHECK(layout.displacements == std::vector<int>{0, 36});
  CHECK(layout.total == 60);
  CHECK_THROWS(bidsim::dist::env_block(4, 2, 2));
}

TEST_CASE("single-process communicator: gathers return the local data, sums are plain sums", "[shard]") {
  const bidsim::dist::Communicator& comm = bidsim::dist::Communicator::world();
  REQUIRE(comm.size() == 1);  // the test binary is never launched under mpirun
  CHECK(comm.rank() == 0);
  CHECK(comm.all_gather(std::vector<double>{1.5, 2.5}) == std::vector<double>{1.5, 2.5});
  CHECK(comm.sum_in_rank_order(3.25) == 3.25);
  CHECK(comm.all(true));
  CHECK(!comm.all(false));
  CHECK(comm.broadcast("x") == "x");
  std::vector<float> out(6, 0.0f);
  const std::vector<float> local = {1, 2, 3, 4, 5, 6};
  comm.all_gather_into(local.data(), out.data(), bidsim::dist::block_layout(2, 1, 3));
  CHECK(out == local);
}

TEST_CASE("shards: a split procedural GSP batch with PID pacing and deviations equals the whole", "[shard][determinism]") {
  check_split_equals_whole(bidsim::parse_scenario(kShardMarket, "test.yaml", {}, "."));
}

TEST_CASE("shards: split sparse within-category and truncate markets equal the whole", "[shard][determinism][sparse]") {
  check_split_equals_whole(bidsim::parse_scenario(
      kShardMarket, "test.yaml",
      {"candidates.mode=sparse", "candidates.per_impression=3", "candidates.within_category=true",
       "budget.overspend=truncate", "reward=utility"},
      "."));
}

TEST_CASE("shards: a split AuctionNet batch (per-episode value parameters, jitter) equals the whole",
          "[shard][determinism][auctionnet]") {
  const std::string path = std::string(BIDSIM_SOURCE_DIR) + "/scenarios/auctionnet.yaml";
  check_split_equals_whole(bidsim::load_scenario(
      path, {"impressions.total=4000", "market.envs=4", "market.steps=8",
             "impressions.profile=[0.1,0.2,0.1,0.15,0.1,0.15,0.1,0.1]", "impressions.jitter.window=2"}));
}

TEST_CASE("shards: a split file-valued batch equals the whole", "[shard][determinism][file]") {
  std::vector<bidsim_test::ValueRow> rows;
  for (int t = 0; t < 3; ++t)
    for (int j = 0; j < 20; ++j)
      for (int i = 0; i < 4; ++i)
        if ((i + j + t) % 3 != 0) rows.push_back({t, j, i, 0.1f + 0.05f * float((i * 7 + j * 3 + t) % 11)});
  bidsim_test::TempDir dir;
  dir.write("values.csv", bidsim_test::value_csv(rows));
  const std::string yaml =
      "market: {envs: 4, steps: 3}\nagents: {count: 4, budget: 0.6}\n"
      "values: {model: file, file: values.csv}\nmechanism: {type: gsp, slots: 2, exposure: [1, 0.5]}\n";
  check_split_equals_whole(bidsim::parse_scenario(yaml, "test.yaml", {}, dir.path()));
}

TEST_CASE("shards: a shard outside the batch is refused", "[shard]") {
  const Scenario s = bidsim::parse_scenario(kShardMarket, "test.yaml", {}, ".");
  CHECK_THROWS_AS(bidsim::shard_scenario(s, 3, 3), bidsim::UsageError);
  CHECK_THROWS_AS(bidsim::shard_scenario(s, 0, 0), bidsim::UsageError);
  const Scenario tail = bidsim::shard_scenario(s, 3, 2);
  CHECK(tail.market.first_env == 3);
  CHECK(tail.market.total_envs == 5);
  CHECK(tail.market.batch_envs() == 5);
}
