// Rollout datasets: what RolloutDatasetWriter puts in the HDF5 file, read back with the HDF5 C API,
// must equal the simulator's state step by step, for a whole batch and for its MPI-style shards.
#include <catch2/catch.hpp>

#include <hdf5.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/mpi/communicator.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/mpi/shard.hpp"
#include "engine/facade/simulator.hpp"
#include "test_support.hpp"
#include "tools/rollout_dataset.hpp"

namespace {

using bidsim::MarketState;
using bidsim::Scenario;

const char* kDatasetMarket = R"(
name: dataset-test
seed: 5
market: {envs: 3, steps: 4}
agents: {count: 7, categories: 2, budget: {uniform: [1, 6]}}
impressions: {per_step: 60}
mechanism: {type: gsp, slots: 2, exposure: [1, 0.5]}
budget: {overspend: auctionnet}
policies:
  - {name: truthful, type: truthful, agents: {range: [0, 3]}}
  - {name: paced, type: pid, agents: {range: [3, 7]}}
)";

// The states before and after every step of one episode, as the writer saw them.
struct Recorded {
  std::vector<MarketState> before, after;
};

Recorded write_episode(const Scenario& s, const std::string& path, int deflate) {
  bidsim::RolloutDatasetInfo info;
  info.policy = "scenario";
  info.deflate_level = deflate;
  bidsim::RolloutDatasetWriter writer(path, s, info);
  bidsim::Simulator sim(s, bidsim::Device::cpu, 1);
  bidsim::BuiltinPolicies policies(s);
  std::vector<float> m(static_cast<std::size_t>(s.market.envs) * s.agents.count);
  Recorded r;
  sim.reset(0);
  while (!sim.done()) {
    writer.before_step(sim.state());
    r.before.push_back(sim.state());
    policies.act(sim.state(), m.data());
    sim.step(m.data());
    writer.after_step(sim.state());
    r.after.push_back(sim.state());
  }
  writer.commit();
  return r;
}

class File {
 public:
  explicit File(const std::string& path) : id_(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {}
  ~File() { if (id_ >= 0) H5Fclose(id_); }
  hid_t id() const { return id_; }

  std::vector<hsize_t> shape(const char* name) const {
    const hid_t d = H5Dopen2(id_, name, H5P_DEFAULT);
    const hid_t space = H5Dget_space(d);
    std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    H5Sclose(space);
    H5Dclose(d);
    return dims;
  }
  template <typename T>
  std::vector<T> read(const char* name, hid_t memory_type) const {
    std::size_t n = 1;
    for (hsize_t x : shape(name)) n *= x;
    std::vector<T> out(n);
    const hid_t d = H5Dopen2(id_, name, H5P_DEFAULT);
    REQUIRE(H5Dread(d, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0);
    H5Dclose(d);
    return out;
  }
  long long int_attribute(const char* name) const {
    long long value = 0;
    const hid_t a = H5Aopen(id_, name, H5P_DEFAULT);
    REQUIRE(H5Aread(a, H5T_NATIVE_LLONG, &value) >= 0);
    H5Aclose(a);
    return value;
  }
  std::string string_attribute(const char* name) const {
    const hid_t a = H5Aopen(id_, name, H5P_DEFAULT);
    const hid_t type = H5Aget_type(a);
    std::string value(H5Tget_size(type), '\0');
    REQUIRE(H5Aread(a, type, value.data()) >= 0);
    H5Tclose(type);
    H5Aclose(a);
    return value.c_str();  // drop the NUL padding
  }

 private:
  hid_t id_;
};

// Element (e, t, i[, f]) of an [E,T,N(,F)] dataset read flat.
std::size_t at(int E_unused, int T, int N, int e, int t, int i, int F = 1, int f = 0) {
  (void)E_unused;
  return ((static_cast<std::size_t>(e) * T + t) * N + i) * F + f;
}

// Every per-step dataset of `file` against the recorded states (envs [0, E) of the file).
void check_against(const File& file, const Recorded& r, int E, int T, int N) {
  const int F = bidsim::kObservationWidth;
  const auto observation = file.read<float>("observation", H5T_NATIVE_FLOAT);
  const auto multiplier = file.read<float>("multiplier", H5T_NATIVE_FLOAT);
  const auto reward = file.read<double>("reward", H5T_NATIVE_DOUBLE);
  const auto cost = file.read<double>("cost", H5T_NATIVE_DOUBLE);
  const auto value = file.read<double>("value", H5T_NATIVE_DOUBLE);
  const auto conversions = file.read<double>("conversions", H5T_NATIVE_DOUBLE);
  const auto budget = file.read<double>("remaining_budget", H5T_NATIVE_DOUBLE);
  const auto wins = file.read<std::int32_t>("wins", H5T_NATIVE_INT32);
  const auto exposures = file.read<std::int32_t>("exposures", H5T_NATIVE_INT32);
  const auto bids = file.read<std::int32_t>("bids", H5T_NATIVE_INT32);
  const auto impressions = file.read<std::int32_t>("impressions", H5T_NATIVE_INT32);
  const auto passes = file.read<std::int32_t>("auction_passes", H5T_NATIVE_INT32);
  int mismatches = 0;
  for (int t = 0; t < T; ++t) {
    const MarketState& b = r.before[t];
    const MarketState& a = r.after[t];
    for (int e = 0; e < E; ++e) {
      mismatches += impressions[static_cast<std::size_t>(e) * T + t] != a.impressions[static_cast<std::size_t>(e) * T + t];
      mismatches += passes[static_cast<std::size_t>(e) * T + t] != a.passes[static_cast<std::size_t>(e) * T + t];
      for (int i = 0; i < N; ++i) {
        const std::size_t k = at(E, T, N, e, t, i), s = b.index(e, i);
        mismatches += multiplier[k] != a.step_multiplier[s];
        mismatches += reward[k] != a.step_reward[s];
        mismatches += cost[k] != a.step_cost[s];
        mismatches += value[k] != a.step_value[s];
        mismatches += conversions[k] != a.step_conversions[s];
        mismatches += budget[k] != a.remaining_budget[s];
        mismatches += wins[k] != a.step_wins[s];
        mismatches += exposures[k] != a.step_exposures[s];
        mismatches += bids[k] != a.step_bid_count[s];
        for (int f = 0; f < F; ++f) mismatches += observation[at(E, T, N, e, t, i, F, f)] != b.observation[s * F + f];
      }
    }
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("rollout dataset: HDF5 contents equal the simulator's state, step by step", "[dataset][hdf5]") {
  const Scenario s = bidsim::parse_scenario(kDatasetMarket, "test.yaml", {}, ".");
  const int E = s.market.envs, T = s.market.steps, N = s.agents.count;
  bidsim_test::TempDir dir;
  for (int deflate : {0, 1}) {
    INFO("deflate " << deflate);
    const std::string path = dir.file("rollout-" + std::to_string(deflate) + ".h5");
    const Recorded r = write_episode(s, path, deflate);
    REQUIRE(std::filesystem::exists(path));
    CHECK(!std::filesystem::exists(path + ".tmp"));
    const File file(path);
    REQUIRE(file.id() >= 0);
    CHECK(file.shape("observation") == std::vector<hsize_t>{hsize_t(E), hsize_t(T), hsize_t(N), hsize_t(bidsim::kObservationWidth)});
    CHECK(file.shape("reward") == std::vector<hsize_t>{hsize_t(E), hsize_t(T), hsize_t(N)});
    CHECK(file.shape("impressions") == std::vector<hsize_t>{hsize_t(E), hsize_t(T)});
    CHECK(file.int_attribute("schema_version") == bidsim::kRolloutSchemaVersion);
    CHECK(file.int_attribute("seed") == 5);
    CHECK(file.int_attribute("first_env") == 0);
    CHECK(file.int_attribute("envs") == E);
    CHECK(file.int_attribute("total_envs") == E);
    CHECK(file.string_attribute("scenario") == "dataset-test");
    CHECK(file.string_attribute("policy") == "scenario");
    CHECK(file.string_attribute("observation_fields").rfind("time_left,budget_left,", 0) == 0);
    CHECK(file.read<std::int64_t>("env", H5T_NATIVE_INT64) == std::vector<std::int64_t>{0, 1, 2});
    CHECK(file.read<double>("agent_budget", H5T_NATIVE_DOUBLE) == s.agents.budget);
    check_against(file, r, E, T, N);
  }
}

TEST_CASE("rollout dataset: shard files hold global env indices and equal the whole batch's rows", "[dataset][hdf5][shard]") {
  const Scenario s = bidsim::parse_scenario(kDatasetMarket, "test.yaml", {}, ".");
  const int T = s.market.steps, N = s.agents.count;
  bidsim_test::TempDir dir;
  const Recorded whole = write_episode(s, dir.file("whole.h5"), 1);
  const File whole_file(dir.file("whole.h5"));
  const auto whole_reward = whole_file.read<double>("reward", H5T_NATIVE_DOUBLE);
  const auto whole_obs = whole_file.read<float>("observation", H5T_NATIVE_FLOAT);
  std::vector<double> glued_reward;
  std::vector<float> glued_obs;
  for (int rank = 0; rank < 2; ++rank) {
    const bidsim::dist::EnvBlock b = bidsim::dist::env_block(s.market.envs, rank, 2);
    const Scenario shard = bidsim::shard_scenario(s, b.first, b.count);
    const std::string path = dir.file("rank" + std::to_string(rank) + ".h5");
    const Recorded r = write_episode(shard, path, 1);
    const File file(path);
    CHECK(file.int_attribute("first_env") == b.first);
    CHECK(file.int_attribute("total_envs") == s.market.envs);
    std::vector<std::int64_t> want_env;
    for (int e = 0; e < b.count; ++e) want_env.push_back(b.first + e);
    CHECK(file.read<std::int64_t>("env", H5T_NATIVE_INT64) == want_env);
    check_against(file, r, b.count, T, N);
    const auto reward = file.read<double>("reward", H5T_NATIVE_DOUBLE);
    const auto obs = file.read<float>("observation", H5T_NATIVE_FLOAT);
    glued_reward.insert(glued_reward.end(), reward.begin(), reward.end());
    glued_obs.insert(glued_obs.end(), obs.begin(), obs.end());
  }
  CHECK(glued_reward == whole_reward);
  CHECK(glued_obs == whole_obs);
}

TEST_CASE("rollout dataset: an uncommitted writer leaves no file behind", "[dataset][hdf5]") {
  const Scenario s = bidsim::parse_scenario(kDatasetMarket, "test.yaml", {}, ".");
  bidsim_test::TempDir dir;
  const std::string path = dir.file("partial.h5");
  {
    bidsim::RolloutDatasetWriter writer(path, s, {});
    bidsim::Simulator sim(s, bidsim::Device::cpu, 1);
    writer.before_step(sim.state());
  }
  CHECK(!std::filesystem::exists(path));
  CHECK(!std::filesystem::exists(path + ".tmp"));
  CHECK_THROWS_AS(bidsim::RolloutDatasetWriter(dir.file("missing/dir/x.h5"), s, {}), bidsim::UsageError);
}
