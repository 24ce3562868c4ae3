// HDF5 writer of rollout datasets (C API). Every [E,T,N(,F)] dataset is chunked one step deep, so each
// step is one hyperslab write per dataset straight from the engine's [E][N] state arrays (no copy),
// and chunks span many agents (and environments when N is small) to keep the per-chunk cost low.
#include "tools/rollout_dataset.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "engine/core/errors.hpp"

namespace bidsim {

namespace {

constexpr hsize_t kChunkElements = hsize_t{1} << 16;  // 256 KiB of floats per chunk: big enough to compress well

// One dataset of the schema: name, file type, units, meaning.
struct Column {
  const char* name;
  hid_t file_type;
  const char* units;
  const char* description;
};

}  // namespace

struct RolloutDatasetWriter::Handles {
  hid_t file = -1;
  // [E,T,N] datasets in this order; `observation` is [E,T,N,F]; impressions / passes are [E,T].
  enum Id : int { kMultiplier, kReward, kCost, kValue, kConversions, kWins, kExposures, kBids, kRemainingBudget,
                  kObservation, kImpressions, kPasses, kCount };
  hid_t dataset[kCount];
  int envs = 0, steps = 0, agents = 0;
  std::vector<std::int32_t> column;  // [E] one step's impressions / passes, made contiguous
  Handles() { std::fill(dataset, dataset + kCount, hid_t(-1)); }
};

namespace {

void check(herr_t status, const std::string& what, const std::string& path) {
  if (status < 0) throw UsageError("--out: " + path + ": HDF5 could not " + what);
}
hid_t check_id(hid_t id, const std::string& what, const std::string& path) {
  if (id < 0) throw UsageError("--out: " + path + ": HDF5 could not " + what);
  return id;
}

void string_attribute(hid_t object, const char* name, const std::string& value, const std::string& path) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, std::max<std::size_t>(1, value.size()));
  H5Tset_strpad(type, H5T_STR_NULLTERM);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = check_id(H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT),
                              std::string("create attribute ") + name, path);
  check(H5Awrite(attr, type, value.c_str()), std::string("write attribute ") + name, path);
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
}

template <typename T>
void number_attribute(hid_t object, const char* name, hid_t file_type, hid_t memory_type, T value,
                      const std::string& path) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = check_id(H5Acreate2(object, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT),
                              std::string("create attribute ") + name, path);
  check(H5Awrite(attr, memory_type, &value), std::string("write attribute ") + name, path);
  H5Aclose(attr);
  H5Sclose(space);
}

// A chunked dataset; `dims` is the full shape, `chunk` its chunk shape.
hid_t create_dataset(hid_t file, const Column& c, const std::vector<hsize_t>& dims, std::vector<hsize_t> chunk,
                     int deflate_level, const std::string& path) {
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t properties = H5Pcreate(H5P_DATASET_CREATE);
  for (std::size_t k = 0; k < chunk.size(); ++k) chunk[k] = std::max<hsize_t>(1, std::min(chunk[k], dims[k]));
  check(H5Pset_chunk(properties, static_cast<int>(chunk.size()), chunk.data()), "set the chunk shape", path);
  if (deflate_level > 0) {
    // Byte shuffle first: the high bytes of neighbouring floats agree, which deflate then finds.
    check(H5Pset_shuffle(properties), "enable the shuffle filter", path);
    check(H5Pset_deflate(properties, static_cast<unsigned>(deflate_level)), "enable deflate", path);
  }
  const hid_t dataset = check_id(H5Dcreate2(file, c.name, c.file_type, space, H5P_DEFAULT, properties, H5P_DEFAULT),
                                 std::string("create dataset ") + c.name, path);
  string_attribute(dataset, "units", c.units, path);
  string_attribute(dataset, "description", c.description, path);
  H5Pclose(properties);
  H5Sclose(space);
  return dataset;
}

// Writes `data` (contiguous, shaped like `count`) at `start` of `dataset`.
void write_block(hid_t dataset, hid_t memory_type, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
                 const void* data, const std::string& path) {
  const hid_t file_space = H5Dget_space(dataset);
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
        "select a hyperslab", path);
  const hid_t memory_space = H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr);
  check(H5Dwrite(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, data), "write a step", path);
  H5Sclose(memory_space);
  H5Sclose(file_space);
}

template <typename T>
void write_vector(hid_t file, const Column& c, const std::vector<T>& values, hid_t memory_type, const std::string& path) {
  const std::vector<hsize_t> dims = {static_cast<hsize_t>(values.size())};
  const hid_t dataset = create_dataset(file, c, dims, {kChunkElements}, 0, path);
  if (!values.empty()) write_block(dataset, memory_type, {0}, dims, values.data(), path);
  H5Dclose(dataset);
}

}  // namespace

namespace {

// The temporary file of the writer in progress, for the signal handler (a fixed buffer: only
// async-signal-safe calls may run there). Empty when no dataset is being written.
char g_pending_temporary[4096] = {0};

void remove_temporary_and_reraise(int signal_number) {
  if (g_pending_temporary[0] != '\0') unlink(g_pending_temporary);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

void track_temporary(const std::string& temporary) {
  if (temporary.size() >= sizeof g_pending_temporary) return;
  std::memcpy(g_pending_temporary, temporary.c_str(), temporary.size() + 1);
  for (const int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, remove_temporary_and_reraise);
}

void untrack_temporary() { g_pending_temporary[0] = '\0'; }

}  // namespace

double rollout_raw_bytes(const Scenario& s) {
  // Per (env, step, agent): multiplier 4 + reward, cost, value, conversions, remaining_budget 5 x 8 +
  // wins, exposures, bids 3 x 4, and the float observation vector.
  const double per_agent_step = 4 + 5 * 8 + 3 * 4 + 4.0 * kObservationWidth;
  return double(s.market.envs) * s.market.steps * s.agents.count * per_agent_step;
}

RolloutDatasetWriter::RolloutDatasetWriter(const std::string& path, const Scenario& s, const RolloutDatasetInfo& info)
    : h_(std::make_unique<Handles>()), path_(path), temporary_(path + ".tmp") {
  track_temporary(temporary_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become one UsageError line, not an HDF5 stack dump
  if (info.deflate_level < 0 || info.deflate_level > 9)
    throw UsageError("--deflate: got " + std::to_string(info.deflate_level) + ", expected 0 (off) to 9");
  if (info.deflate_level > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
    throw UsageError("--deflate: this HDF5 library has no deflate filter; use --deflate 0");
  const int E = s.market.envs, T = s.market.steps, N = s.agents.count;
  h_->envs = E;
  h_->steps = T;
  h_->agents = N;
  h_->column.resize(E);
  h_->file = check_id(H5Fcreate(temporary_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create the file", path);
  const hid_t root = h_->file;
  number_attribute(root, "schema_version", H5T_STD_I32LE, H5T_NATIVE_INT, kRolloutSchemaVersion, path);
  string_attribute(root, "scenario", s.name, path);
  string_attribute(root, "scenario_file", s.source, path);
  string_attribute(root, "policy", info.policy, path);
  string_attribute(root, "reward", to_string(s.reward), path);
  number_attribute(root, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, static_cast<std::uint64_t>(s.seed), path);
  number_attribute(root, "episode", H5T_STD_U64LE, H5T_NATIVE_UINT64, static_cast<std::uint64_t>(info.episode), path);
  number_attribute(root, "first_env", H5T_STD_I32LE, H5T_NATIVE_INT, s.market.first_env, path);
  number_attribute(root, "envs", H5T_STD_I32LE, H5T_NATIVE_INT, E, path);
  number_attribute(root, "total_envs", H5T_STD_I32LE, H5T_NATIVE_INT, s.market.batch_envs(), path);
  number_attribute(root, "agents", H5T_STD_I32LE, H5T_NATIVE_INT, N, path);
  number_attribute(root, "steps", H5T_STD_I32LE, H5T_NATIVE_INT, T, path);
  number_attribute(root, "rank", H5T_STD_I32LE, H5T_NATIVE_INT, info.rank, path);
  number_attribute(root, "ranks", H5T_STD_I32LE, H5T_NATIVE_INT, info.ranks, path);
  std::string fields;
  for (int f = 0; f < kObservationWidth; ++f) fields += (f ? "," : "") + std::string(observation_field_name(f));
  string_attribute(root, "observation_fields", fields, path);

  const hsize_t e = E, t = T, n = N, f = kObservationWidth;
  // Chunks: one step deep, as many agents as fit, then as many envs as fit (small N).
  auto chunk_of = [&](hsize_t inner) {
    const hsize_t agents = std::min<hsize_t>(n, std::max<hsize_t>(1, kChunkElements / inner));
    const hsize_t envs = std::max<hsize_t>(1, kChunkElements / (agents * inner));
    return std::vector<hsize_t>{envs, 1, agents};
  };
  const Column per_agent[] = {
      {"multiplier", H5T_IEEE_F32LE, "1", "bid multiplier applied at the step (bid = multiplier x value; negatives clamped to 0)"},
      {"reward", H5T_IEEE_F64LE, "reward units", "step reward under the scenario's reward kind (attribute reward)"},
      {"cost", H5T_IEEE_F64LE, "money", "amount charged at the step"},
      {"value", H5T_IEEE_F64LE, "value units", "value of the exposed wins at the step"},
      {"conversions", H5T_IEEE_F64LE, "conversions", "realized conversions at the step"},
      {"wins", H5T_STD_I32LE, "slots", "slots won (sold) at the step"},
      {"exposures", H5T_STD_I32LE, "slots", "won slots that were shown"},
      {"bids", H5T_STD_I32LE, "impressions", "impressions the agent placed a qualifying bid on"},
      {"remaining_budget", H5T_IEEE_F64LE, "money", "budget left after the step"},
  };
  for (int k = 0; k < Handles::kObservation; ++k)
    h_->dataset[k] = create_dataset(root, per_agent[k], {e, t, n}, chunk_of(1), info.deflate_level, path);
  std::vector<hsize_t> obs_chunk = chunk_of(f);
  obs_chunk.push_back(f);
  h_->dataset[Handles::kObservation] = create_dataset(
      root, {"observation", H5T_IEEE_F32LE, "see observation_fields",
             "observation before acting at the step, fields in the root attribute observation_fields"},
      {e, t, n, f}, obs_chunk, info.deflate_level, path);
  h_->dataset[Handles::kImpressions] = create_dataset(
      root, {"impressions", H5T_STD_I32LE, "impressions", "impression opportunities of the environment at the step"},
      {e, t}, {kChunkElements, 1}, info.deflate_level, path);
  h_->dataset[Handles::kPasses] = create_dataset(
      root, {"auction_passes", H5T_STD_I32LE, "passes", "auction passes the overspend rule needed at the step"},
      {e, t}, {kChunkElements, 1}, info.deflate_level, path);

  std::vector<std::int64_t> env(E);
  for (int k = 0; k < E; ++k) env[k] = s.market.first_env + k;
  write_vector(root, {"env", H5T_STD_I64LE, "index", "global environment index of each row (the batch's env order)"},
               env, H5T_NATIVE_INT64, path);
  std::vector<std::int32_t> category(s.agents.category.begin(), s.agents.category.end());
  write_vector(root, {"agent_category", H5T_STD_I32LE, "category", "category of each agent"}, category,
               H5T_NATIVE_INT32, path);
  write_vector(root, {"agent_budget", H5T_IEEE_F64LE, "money", "initial budget of each agent"}, s.agents.budget,
               H5T_NATIVE_DOUBLE, path);
  write_vector(root, {"agent_value_scale", H5T_IEEE_F64LE, "1", "value scale of each agent"}, s.agents.value_scale,
               H5T_NATIVE_DOUBLE, path);
}

RolloutDatasetWriter::~RolloutDatasetWriter() {
  untrack_temporary();
  if (committed_) return;
  for (hid_t d : h_->dataset)
    if (d >= 0) H5Dclose(d);
  if (h_->file >= 0) H5Fclose(h_->file);
  std::error_code ignored;
  std::filesystem::remove(temporary_, ignored);
}

void RolloutDatasetWriter::before_step(const MarketState& st) {
  const auto start = std::chrono::steady_clock::now();
  const hsize_t e = h_->envs, n = h_->agents, f = kObservationWidth, t = static_cast<hsize_t>(st.step);
  write_block(h_->dataset[Handles::kObservation], H5T_NATIVE_FLOAT, {0, t, 0, 0}, {e, 1, n, f}, st.observation.data(),
              path_);
  raw_bytes_ += e * n * f * sizeof(float);
  write_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void RolloutDatasetWriter::after_step(const MarketState& st) {
  const auto start = std::chrono::steady_clock::now();
  const hsize_t e = h_->envs, n = h_->agents, t = static_cast<hsize_t>(st.step - 1);
  const std::vector<hsize_t> at = {0, t, 0}, count = {e, 1, n};
  auto put = [&](int id, hid_t memory_type, const void* data, std::size_t element_bytes) {
    write_block(h_->dataset[id], memory_type, at, count, data, path_);
    raw_bytes_ += e * n * element_bytes;
  };
  put(Handles::kMultiplier, H5T_NATIVE_FLOAT, st.step_multiplier.data(), sizeof(float));
  put(Handles::kReward, H5T_NATIVE_DOUBLE, st.step_reward.data(), sizeof(double));
  put(Handles::kCost, H5T_NATIVE_DOUBLE, st.step_cost.data(), sizeof(double));
  put(Handles::kValue, H5T_NATIVE_DOUBLE, st.step_value.data(), sizeof(double));
  put(Handles::kConversions, H5T_NATIVE_DOUBLE, st.step_conversions.data(), sizeof(double));
  put(Handles::kWins, H5T_NATIVE_INT32, st.step_wins.data(), sizeof(std::int32_t));
  put(Handles::kExposures, H5T_NATIVE_INT32, st.step_exposures.data(), sizeof(std::int32_t));
  put(Handles::kBids, H5T_NATIVE_INT32, st.step_bid_count.data(), sizeof(std::int32_t));
  put(Handles::kRemainingBudget, H5T_NATIVE_DOUBLE, st.remaining_budget.data(), sizeof(double));
  // [E][T] engine arrays: this step's column made contiguous.
  for (int id : {int(Handles::kImpressions), int(Handles::kPasses)}) {
    const std::vector<std::int32_t>& source = id == Handles::kImpressions ? st.impressions : st.passes;
    for (int k = 0; k < h_->envs; ++k) h_->column[k] = source[static_cast<std::size_t>(k) * h_->steps + t];
    write_block(h_->dataset[id], H5T_NATIVE_INT32, {0, t}, {e, 1}, h_->column.data(), path_);
    raw_bytes_ += e * sizeof(std::int32_t);
  }
  write_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void RolloutDatasetWriter::commit() {
  const auto start = std::chrono::steady_clock::now();
  for (hid_t& d : h_->dataset) {
    check(H5Dclose(d), "close a dataset", path_);
    d = -1;
  }
  check(H5Fclose(h_->file), "close the file (disk full?)", path_);
  h_->file = -1;
  std::error_code ec;
  std::filesystem::rename(temporary_, path_, ec);
  if (ec) throw UsageError("--out: cannot rename " + temporary_ + " to " + path_ + " (" + ec.message() + ")");
  committed_ = true;
  write_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace bidsim
