// The pieces every `bidsim` subcommand shares (scenario path, --set, --seed, --device, --out) and
// the registration hooks of the command files, so each area (market, mean field, learning) owns its
// command in its own file and bidsim.cpp only dispatches.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/core/config_types.hpp"
#include "tools/progress.hpp"

namespace bidsim {

inline constexpr int kExitUsage = 2;  // bad input: one line on stderr

struct CommonOptions {
  std::string scenario;
  std::vector<std::string> sets;
  long long seed = -1;
  std::string device = "auto";
  std::string out;
  int threads = 0;
  bool quiet = false;
  bool force = false;  // --force: an --out directory holding an earlier run may be overwritten
  std::string progress;  // --progress auto | always | never; "" = not given (then --quiet decides)
};

// Adds the positional scenario and --set, --seed, --device, --out, --threads, --quiet, --force, --progress.
void add_common_options(CLI::App& cmd, CommonOptions& o, const std::string& default_scenario_file);
// Adds --progress (auto | always | never) to a command that has its own option set.
void add_progress_option(CLI::App& cmd, std::string& progress);
// The progress of this process: never on ranks other than the output rank, else progress_mode(--quiet, --progress).
ProgressMode progress_mode_of(bool quiet, const std::string& progress);
inline ProgressMode progress_mode_of(const CommonOptions& o) { return progress_mode_of(o.quiet, o.progress); }

// CLI11 validators shared by the commands' own flags: "" when `text` is acceptable, else the reason.
std::string check_seed_text(const std::string& text);     // an integer in [0, 2^63 - 1]
std::string check_threads_text(const std::string& text);  // 0 (all cores) up to 4 per core of this machine
std::string check_out_text(const std::string& text);      // a non-empty path

// `file` under ./scenarios when it exists there, else under the source tree's scenarios/.
std::string scenario_path(const std::string& file);

// The --set list plus "seed=S" when --seed was given.
std::vector<std::string> overrides_of(const CommonOptions& o);

// --- multi-process runs (mpirun / srun; a one-process world otherwise) ---------------------------

// Rank `r` of K simulates environments env_block(E, r, K) of the scenario's batch: its shard. Every
// rank reaches the same verdict, so a bad launch (more ranks than environments) is a UsageError on all.
Scenario shard_for_this_rank(const Scenario& scenario, const std::string& what);
// CPU threads of one rank: `requested` when given (> 0); else 0 (all cores, or OMP_NUM_THREADS) for a
// single rank per node, and the node's cores split between its ranks otherwise (no oversubscription).
int threads_per_rank(int requested);
// Rank 0 creates `dir` (the only rank that writes outputs); every rank learns whether that failed and
// throws the same UsageError, so no rank waits in a collective for a rank that gave up. A directory
// holding an earlier run is refused unless `overwrite` (--force, or --resume of that run).
void prepare_output_dir_on_root(const std::string& dir, bool overwrite);
// Throws a UsageError naming `dir` and the estimate when its file system has less than `bytes` free.
void require_free_disk(const std::string& dir, double bytes, const std::string& what);
// Whether this rank prints and writes (rank 0, or the only process).
bool is_output_rank();
// Peak resident memory of every rank so far (getrusage ru_maxrss), MB, in rank order, on every rank.
std::vector<double> peak_memory_mb_per_rank();

// A registered subcommand: run() is called when it was parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
using CommandList = std::vector<Command>;

void add_simulate_command(CLI::App& app, CommandList& commands);
void add_mesob_commands(CLI::App& app, CommandList& commands);
// `plot` (tools/cmd_plot.cpp): a run directory's figures through tools/bidsim_plot.py (matplotlib).
void add_plot_command(CLI::App& app, CommandList& commands);
// `train` and `evaluate` (tools/cmd_train.cpp); registered only in builds with LibTorch.
void add_learning_commands(CLI::App& app, CommandList& commands);
// `rollout` (tools/cmd_rollout.cpp): trajectories to HDF5; registered only in builds with HDF5.
void add_rollout_command(CLI::App& app, CommandList& commands);

}  // namespace bidsim
