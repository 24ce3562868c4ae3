// Shared option handling of the `bidsim` subcommands.
#include "tools/commands.hpp"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "engine/mpi/communicator.hpp"
#include "engine/core/errors.hpp"
#include "engine/facade/machine.hpp"
#include "engine/mpi/shard.hpp"
#include "tools/output.hpp"

namespace bidsim {

namespace fs = std::filesystem;

// A shipped scenario: ./scenarios/ first (a checkout), then the install prefix of this executable
// (PREFIX/bin/bidsim -> PREFIX/share/bidsim/scenarios), then the source tree it was built from.
std::string scenario_path(const std::string& file) {
  const fs::path local = fs::path("scenarios") / file;
  if (fs::exists(local)) return local.string();
  std::error_code ignored;
  const fs::path executable = fs::read_symlink("/proc/self/exe", ignored);
  if (!executable.empty()) {
    const fs::path installed = executable.parent_path().parent_path() / "share" / "bidsim" / "scenarios" / file;
    if (fs::exists(installed, ignored)) return installed.string();
  }
  return (fs::path(BIDSIM_SOURCE_DIR) / "scenarios" / file).string();
}

void add_common_options(CLI::App& cmd, CommonOptions& o, const std::string& default_scenario_file) {
  cmd.add_option("scenario", o.scenario, "Scenario YAML (default: scenarios/" + default_scenario_file + ")");
  cmd.add_option("--set", o.sets,
                 "Override a scenario key: --set market.envs=16 --set agents.budget=[1,2,3] (repeatable)")
      ->take_all()->allow_extra_args(false);
  cmd.add_option("--seed", o.seed, "Random seed (same as --set seed=S)")->check(CLI::Validator(check_seed_text, "SEED"));
  cmd.add_option("--device", o.device, "Backend: auto (GPU when present), cpu or cuda");
  cmd.add_option("--out", o.out, "Directory for the outputs (created if missing)")->check(CLI::Validator(check_out_text, "DIR"));
  cmd.add_option("--threads", o.threads, "CPU threads (0 = all cores)")->check(CLI::Validator(check_threads_text, "N"));
  cmd.add_flag("--quiet", o.quiet, "Print only the one-line result (no progress unless --progress is given)");
  cmd.add_flag("--force", o.force, "Overwrite the outputs of an earlier run in --out");
  add_progress_option(cmd, o.progress);
}

void add_progress_option(CLI::App& cmd, std::string& progress) {
  cmd.add_option("--progress", progress,
                 "Progress with rate and ETA on stderr: auto (after 2 s; the default, none with --quiet), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
}

ProgressMode progress_mode_of(bool quiet, const std::string& progress) {
  return is_output_rank() ? progress_mode(quiet, progress) : ProgressMode::never;
}

namespace {

// Whether `text` is a plain decimal integer (no sign, no exponent, no spaces) of at most 19 digits,
// and its value; larger numbers would silently saturate in the usual conversions.
bool plain_integer(const std::string& text, unsigned long long& value) {
  if (text.empty() || text.size() > 19) return false;
  value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

}  // namespace

std::string check_seed_text(const std::string& text) {
  unsigned long long value = 0;
  const unsigned long long max = 9223372036854775807ull;  // 2^63 - 1: seeds travel as signed 64-bit
  if (!plain_integer(text, value) || value > max)
    return "got '" + text + "', expected an integer in [0, 9223372036854775807]";
  return "";
}

std::string check_threads_text(const std::string& text) {
  const unsigned long long most = 4ull * static_cast<unsigned long long>(machine_cores());
  unsigned long long value = 0;
  if (!plain_integer(text, value) || value > most)
    return "got '" + text + "', expected 0 (all cores) to " + std::to_string(most) + " (this machine has " +
           std::to_string(machine_cores()) + " cores; at most 4 threads per core)";
  return "";
}

std::string check_out_text(const std::string& text) {
  return text.empty() ? "got an empty path, expected a directory" : "";
}

std::vector<std::string> overrides_of(const CommonOptions& o) {
  std::vector<std::string> overrides = o.sets;
  if (o.seed >= 0) overrides.push_back("seed=" + std::to_string(o.seed));
  return overrides;
}

Scenario shard_for_this_rank(const Scenario& scenario, const std::string& what) {
  const dist::Communicator& comm = dist::Communicator::world();
  if (comm.size() == 1) return scenario;
  const int envs = scenario.market.envs;
  if (comm.size() > envs)
    throw UsageError(scenario.source + ": market.envs: " + std::to_string(envs) + " environments" +
                     (what.empty() ? "" : " (" + what + ")") + " for " + std::to_string(comm.size()) +
                     " MPI ranks, expected at least one environment per rank (launch at most " +
                     std::to_string(envs) + " ranks or raise market.envs)");
  const dist::EnvBlock b = dist::env_block(envs, comm.rank(), comm.size());
  return shard_scenario(scenario, b.first, b.count);
}

int threads_per_rank(int requested) {
  if (requested > 0) return requested;
  const dist::Communicator& comm = dist::Communicator::world();
  if (comm.local_size() <= 1 || std::getenv("OMP_NUM_THREADS")) return 0;
  return std::max(1, omp_get_num_procs() / comm.local_size());
}

void prepare_output_dir_on_root(const std::string& dir, bool overwrite) {
  if (dir.empty()) return;
  const dist::Communicator& comm = dist::Communicator::world();
  std::string error;
  if (comm.is_root()) {
    try {
      prepare_output_dir(dir, overwrite);
    } catch (const UsageError& e) {
      error = e.what();
    }
  }
  error = comm.broadcast(error);
  if (!error.empty()) throw UsageError(error);
}

void require_free_disk(const std::string& dir, double bytes, const std::string& what) {
  const double free = static_cast<double>(free_disk_bytes(dir));
  if (free > 0 && bytes > free) {
    char sizes[160];
    std::snprintf(sizes, sizeof sizes, "needs about %.2f GB on disk, the file system has %.2f GB free", bytes / 1e9,
                  free / 1e9);
    throw UsageError("--out " + dir + ": " + what + " " + sizes + " (free space or reduce the run)");
  }
}

bool is_output_rank() { return dist::Communicator::world().is_root(); }

std::vector<double> peak_memory_mb_per_rank() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports kilobytes
  return dist::Communicator::world().all_gather(std::vector<double>{mb});
}

}  // namespace bidsim
