// Rollout datasets: one episode of E environments x T steps x N agents streamed step by step into an
// HDF5 file (chunked, shuffle + deflate), so offline-RL users read it with h5py or pandas. Schema
// (dataset names, shapes, dtypes, units) in README.md "Rollout datasets"; kRolloutSchemaVersion bumps
// whenever a dataset or attribute changes meaning.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/core/config_types.hpp"
#include "engine/core/market_state.hpp"

namespace bidsim {

inline constexpr int kRolloutSchemaVersion = 1;

// What the file says about itself (root-group attributes).
struct RolloutDatasetInfo {
  std::string policy;          // "truthful", "constant:0.7", "scenario" or the checkpoint path
  std::uint64_t episode = 0;   // engine episode (the market draws)
  int rank = 0, ranks = 1;     // MPI rank that wrote this file, of how many
  int deflate_level = 1;       // 0: no compression; 1-9: shuffle + deflate at this level
};

// Uncompressed bytes of the datasets of one file for `scenario` (its envs x steps x agents): what
// --deflate 0 writes, the bound the free-disk check uses.
double rollout_raw_bytes(const Scenario& scenario);

// Writes to `path`.tmp and renames to `path` on commit(); an uncommitted writer removes its temporary
// file, so a failed run never leaves a partial dataset. SIGINT, SIGTERM and SIGHUP remove it too
// (then end the process as the signal would); only SIGKILL can leave it behind. `scenario` is the (possibly sharded) batch this
// process simulates: the file holds its envs, global indices [first_env, first_env + envs).
class RolloutDatasetWriter {
 public:
  RolloutDatasetWriter(const std::string& path, const Scenario& scenario, const RolloutDatasetInfo& info);
  ~RolloutDatasetWriter();
  RolloutDatasetWriter(const RolloutDatasetWriter&) = delete;
  RolloutDatasetWriter& operator=(const RolloutDatasetWriter&) = delete;

  void before_step(const MarketState& state);  // the observations agents act on at step state.step
  void after_step(const MarketState& state);   // what step state.step - 1 brought: actions and outcomes
  void commit();                               // flush, close, rename into place

  std::uint64_t raw_bytes() const { return raw_bytes_; }     // uncompressed bytes handed to HDF5
  double write_seconds() const { return write_seconds_; }    // wall time inside HDF5 (writes + close)
  const std::string& path() const { return path_; }

 private:
  struct Handles;
  std::unique_ptr<Handles> h_;
  std::string path_, temporary_;
  std::uint64_t raw_bytes_ = 0;
  double write_seconds_ = 0;
  bool committed_ = false;
};

}  // namespace bidsim
