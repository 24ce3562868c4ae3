// The `bidsim` command-line program: registers the subcommands (one file each), parses flags and
// dispatches. Every user error ends as one line on stderr and exit status 2. Under mpirun / srun it
// starts MPI once; rank 0 alone prints and writes, the other ranks compute their share silently.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <string>

#include "engine/communicator.hpp"
#include "engine/errors.hpp"
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

}  // namespace

int main(int argc, char** argv) {
  const MpiSession mpi(&argc, &argv);
  const bidsim::dist::Communicator& comm = bidsim::dist::Communicator::world();
  // User errors are found by every rank alike (same inputs, same checks): rank 0 alone reports them,
  // so a bad launch prints one line, not one per rank. Non-root ranks print nothing on stdout either.
  const bool reporter = comm.is_root();
  if (!reporter) std::cout.setstate(std::ios::badbit);
#ifdef BIDSIM_HAVE_CUDA
  // One GPU per rank: the ranks of a node take its devices round-robin by local rank. A process
  // launched alone is local rank 0 and keeps device 0.
  if (const int gpus = bidsim::cuda::device_count(); gpus > 1) bidsim::cuda::use_device(comm.local_rank() % gpus);
#endif

  CLI::App app{"bidsim: GPU-batched auto-bidding market simulation and equilibrium learning.\n"
               "Scenarios are YAML files (scenarios/README.md documents every key).\n"
               "Under mpirun/srun the environments of every batch are split across the ranks."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every command");

  bidsim::CommandList commands;
  bidsim::add_simulate_command(app, commands);
  bidsim::add_mesob_commands(app, commands);
#ifdef BIDSIM_HAVE_TORCH
  bidsim::add_learning_commands(app, commands);
#endif
#ifdef BIDSIM_HAVE_HDF5
  bidsim::add_rollout_command(app, commands);
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
    if (reporter) std::cerr << "bidsim: " << what << " (see bidsim --help)\n";
    return bidsim::kExitUsage;
  }

  try {
    for (const bidsim::Command& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const bidsim::ScenarioError& e) {
    if (reporter) std::cerr << "bidsim: " << e.what() << "\n";
    return bidsim::kExitUsage;
  } catch (const bidsim::UsageError& e) {
    if (reporter) std::cerr << "bidsim: " << e.what() << "\n";
    return bidsim::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "bidsim: internal error";
    if (comm.size() > 1) std::cerr << " on rank " << comm.rank();
    std::cerr << ": " << e.what() << "\n";
    // It may have hit this rank only: its peers would wait for it in the next collective.
    if (comm.size() > 1) bidsim::dist::World::abort(1);
    return 1;
  }
  return 0;
}
