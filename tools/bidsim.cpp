// The `bidsim` command-line program: registers the subcommands (one file each), parses flags and
// dispatches. Every user error ends as one line on stderr and exit status 2. Under mpirun / srun it
// starts MPI once; rank 0 alone prints and writes, the other ranks compute their share silently.
//
// Built twice (tools/CMakeLists.txt). `bidsim`, the front end, links neither LibTorch nor MPI, so
// --help, --version, simulate and the mean-field commands start in milliseconds; it hands the
// commands that need LibTorch or HDF5 (train, evaluate, rollout), and any run under an MPI launcher,
// to `bidsim-full` next to it by exec, with the same arguments. `bidsim-full` holds every command.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "engine/mpi/communicator.hpp"
#include "engine/core/device_choice.hpp"
#include "engine/core/errors.hpp"
#include "engine/facade/machine.hpp"
#include "tools/commands.hpp"

#ifdef BIDSIM_HAVE_CUDA
#include "cuda/device.hpp"
#endif

namespace {

// MPI_Finalize on every way out of main (MPI is started only when a launcher started this process).
struct MpiSession {
  MpiSession(int* argc, char*** argv) { bidsim::dist::World::initialize(argc, argv); }
  ~MpiSession() { bidsim::dist::World::finalize(); }
};

#ifdef BIDSIM_FRONT_END
// The subcommand named on the command line (the first argument that is not an option), or "".
std::string command_word(int argc, char** argv) {
  for (int k = 1; k < argc; ++k)
    if (argv[k][0] != '-') return argv[k];
  return "";
}

// Commands that only bidsim-full has, with the one-line description --help shows for them here.
struct DelegatedCommand {
  const char* name;
  const char* summary;
};
const std::vector<DelegatedCommand> kDelegated = {
#ifdef BIDSIM_FULL_HAS_TORCH
    {"train", "Train bidding policies (bpg, bpg_zero, independent, cooperative) with LibTorch; see train --help"},
    {"evaluate", "Evaluate a trained checkpoint: welfare, revenue, exploitability; see evaluate --help"},
#endif
#ifdef BIDSIM_FULL_HAS_HDF5
    {"rollout", "Write one episode's trajectories to HDF5 for offline RL; see rollout --help"},
#endif
};

bool is_delegated(const std::string& word) {
  for (const DelegatedCommand& c : kDelegated)
    if (word == c.name) return true;
  return false;
}

// Replaces this process by bidsim-full (same directory as this executable) with the same arguments.
// Returns only when that fails, with the reason.
std::string exec_full_program(char** argv) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "cannot locate this executable (/proc/self/exe: " + ec.message() + ")";
  const std::string full = (self.parent_path() / BIDSIM_FULL_PROGRAM).string();
  execv(full.c_str(), argv);  // argv[0] stays what the user typed, so usage lines say `bidsim`
  return full + ": cannot start it (" + std::strerror(errno) + "); it is built with bidsim (see README)";
}
#endif

// What this build contains and which device it finds: `bidsim --version`.
void print_version(std::ostream& out) {
  auto yes_no = [](bool on) { return on ? "yes" : "no"; };
#ifdef BIDSIM_HAVE_CUDA
  const bool cuda = true;
#else
  const bool cuda = false;
#endif
#ifdef BIDSIM_FULL_HAS_TORCH
  const bool torch = true;
#else
  const bool torch = false;
#endif
#ifdef BIDSIM_FULL_HAS_MPI
  const bool mpi = true;
#else
  const bool mpi = false;
#endif
#ifdef BIDSIM_FULL_HAS_HDF5
  const bool hdf5 = true;
#else
  const bool hdf5 = false;
#endif
#ifdef BIDSIM_FULL_HAS_PYTHON
  const bool python = true;
#else
  const bool python = false;
#endif
  out << "bidsim " << BIDSIM_VERSION << "\n";
  out << "features: CUDA backend " << yes_no(cuda) << ", LibTorch " << yes_no(torch)
#ifdef BIDSIM_TORCH_VERSION
      << (torch ? " " BIDSIM_TORCH_VERSION : "")
#endif
      << ", MPI " << yes_no(mpi) << ", HDF5 " << yes_no(hdf5) << ", Python module " << yes_no(python) << "\n";
  std::string device = "none (no CUDA backend in this build)";
#ifdef BIDSIM_HAVE_CUDA
  device = bidsim::cuda_device_present() ? bidsim::cuda::device_description() : "none (no CUDA device found)";
#endif
  out << "device: " << device << "; cpu: " << bidsim::machine_cores() << " cores, "
      << bidsim::machine_available_memory_bytes() / (1ull << 20) << " MiB memory available\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--version") {
    print_version(std::cout);
    return 0;
  }
#ifdef BIDSIM_FRONT_END
  // LibTorch / HDF5 commands and MPI runs belong to bidsim-full; this front end never loads them.
  if (is_delegated(command_word(argc, argv))
#ifdef BIDSIM_FULL_HAS_MPI
      || bidsim::dist::World::launched_by_mpi()
#endif
  ) {
    const std::string failure = exec_full_program(argv);  // returns only when the exec failed
    std::cerr << "bidsim: " << bidsim::printable_line(failure) << "\n";
    return 1;
  }
#endif
  const MpiSession mpi(&argc, &argv);
  const bidsim::dist::Communicator& comm = bidsim::dist::Communicator::world();
  // User errors are found by every rank alike (same inputs, same checks): rank 0 alone reports them,
  // so a bad launch prints one line, not one per rank. Non-root ranks print nothing on stdout either.
  const bool reporter = comm.is_root();
  if (!reporter) std::cout.setstate(std::ios::badbit);
#ifdef BIDSIM_HAVE_CUDA
  // One GPU per rank: the ranks of a node take its devices round-robin by local rank. A process
  // launched alone is local rank 0 and keeps device 0. (Only under MPI: a single process leaves the
  // CUDA runtime untouched until a command asks for the device.)
  if (comm.size() > 1)
    if (const int gpus = bidsim::cuda::device_count(); gpus > 1) bidsim::cuda::use_device(comm.local_rank() % gpus);
#endif

  CLI::App app{"bidsim: GPU-batched auto-bidding market simulation and equilibrium learning.\n"
               "Scenarios are YAML files (scenarios/README.md documents every key).\n"
               "Under mpirun/srun the environments of every batch are split across the ranks."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every command");
  app.add_flag("--version", "Print the version, the compiled features and the device found, then exit");

  bidsim::CommandList commands;
  bidsim::add_simulate_command(app, commands);
  bidsim::add_mesob_commands(app, commands);
  bidsim::add_plot_command(app, commands);
#ifdef BIDSIM_FRONT_END
  for (const DelegatedCommand& c : kDelegated) app.add_subcommand(c.name, c.summary)->allow_extras();
#else
#ifdef BIDSIM_HAVE_TORCH
  bidsim::add_learning_commands(app, commands);
#endif
#ifdef BIDSIM_HAVE_HDF5
  bidsim::add_rollout_command(app, commands);
#endif
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    if (reporter) std::cerr << "bidsim: " << bidsim::printable_line(what) << " (see bidsim --help)\n";
    return bidsim::kExitUsage;
  }

  try {
    for (const bidsim::Command& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const bidsim::ScenarioError& e) {
    if (reporter) std::cerr << "bidsim: " << bidsim::printable_line(e.what()) << "\n";
    return bidsim::kExitUsage;
  } catch (const bidsim::UsageError& e) {
    if (reporter) std::cerr << "bidsim: " << bidsim::printable_line(e.what()) << "\n";
    return bidsim::kExitUsage;
  } catch (const std::bad_alloc&) {
    // An allocation the resource checks did not foresee: say what ran out, in one line.
    if (reporter)
      std::cerr << "bidsim: out of memory (" << bidsim::machine_available_memory_bytes() / (1ull << 20)
                << " MiB available on this machine); reduce market.envs, agents.count or impressions\n";
    if (comm.size() > 1) bidsim::dist::World::abort(1);
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bidsim: internal error";
    if (comm.size() > 1) std::cerr << " on rank " << comm.rank();
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');  // a LibTorch trace spans many lines
    if (what.size() > 300) what = what.substr(0, 297) + "...";
    std::cerr << ": " << bidsim::printable_line(what) << "\n";
    // It may have hit this rank only: its peers would wait for it in the next collective.
    if (comm.size() > 1) bidsim::dist::World::abort(1);
    return 1;
  }
  return 0;
}
