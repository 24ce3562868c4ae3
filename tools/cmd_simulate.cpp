// `bidsim simulate`: run the scenario's built-in policies in the batched market and report welfare,
// revenue and per-agent outcomes; --out writes summary.json and steps.csv atomically. Under MPI each
// rank runs its block of environments; rank 0 gathers the per-environment records in env order and
// reduces them exactly as a single process would, so the results do not depend on the rank count.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "engine/mpi/communicator.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulate.hpp"
#include "engine/facade/simulator.hpp"
#include "tools/commands.hpp"
#include "tools/output.hpp"

namespace bidsim {

namespace {

// Every rank's records concatenated in rank order = global env order (contiguous env blocks).
EpisodeRecords gather_records(const dist::Communicator& comm, const EpisodeRecords& local, int total_envs) {
  if (comm.size() == 1) return local;
  EpisodeRecords all = local;
  all.envs = total_envs;
  for (auto member : {&EpisodeRecords::step_sums, &EpisodeRecords::value, &EpisodeRecords::cost,
                      &EpisodeRecords::reward, &EpisodeRecords::conversions, &EpisodeRecords::wins,
                      &EpisodeRecords::exposures, &EpisodeRecords::revenue})
    all.*member = comm.all_gather(local.*member);
  // The batch took as long as its slowest shard.
  const std::vector<double> seconds = comm.all_gather(std::vector<double>{local.seconds});
  all.seconds = *std::max_element(seconds.begin(), seconds.end());
  return all;
}

int run_simulate(const CommonOptions& o) {
  const Scenario scenario = load_scenario(o.scenario.empty() ? scenario_path("default.yaml") : o.scenario,
                                          overrides_of(o));
  const Scenario shard = shard_for_this_rank(scenario, "");
  const Device device = parse_device(o.device);
  prepare_output_dir_on_root(o.out, o.force);
  // summary.json (~7 per-agent numbers of ~20 characters) and steps.csv (~150 characters a step).
  if (!o.out.empty())
    require_free_disk(o.out, 140.0 * scenario.agents.count + 150.0 * scenario.market.steps + 4096, "the outputs");
  Simulator sim(shard, device, threads_per_rank(o.threads));
  BuiltinPolicies policies(shard);
  const dist::Communicator& comm = dist::Communicator::world();
  ProgressLine progress("simulate", "steps", progress_mode_of(o));
  const EpisodeRecords local = run_episode(sim, policies, [&](int done, int steps) { progress.update(done, steps); });
  progress.finish();
  const EpisodeRecords records = gather_records(comm, local, scenario.market.envs);
  const std::vector<double> memory_mb = peak_memory_mb_per_rank();
  if (!comm.is_root()) return 0;

  const SimulationResult result = reduce_episodes(scenario, records);
  print_simulation(std::cout, scenario, sim.backend_name(), result, o.quiet);
  if (comm.size() > 1 && !o.quiet)
    std::cout << "  ranks     " << comm.size() << " MPI ranks, " << shard.market.envs
              << " environments on rank 0 (contiguous blocks; results equal a single process)\n";
  if (!o.quiet) {
    std::cout << "  memory    peak resident MB per rank:";
    for (double mb : memory_mb) std::cout << " " << static_cast<long long>(mb + 0.5);
    std::cout << "\n";
  }
  // A device backend's counts are rank 0's (its shard of the environments).
  const DeviceCounters* counters = sim.device_counters();
  if (counters && !o.quiet) print_device_counters(std::cout, *counters);
  if (!o.out.empty()) {
    write_simulation_json(o.out, scenario, sim.backend_name(), result, memory_mb, counters);
    write_steps_csv(o.out, result);
    if (!o.quiet) {
      namespace fs = std::filesystem;
      std::cout << "wrote " << (fs::path(o.out) / "summary.json").string() << " and "
                << (fs::path(o.out) / "steps.csv").string() << "\n";
    }
  }
  return 0;
}

}  // namespace

void add_simulate_command(CLI::App& app, CommandList& commands) {
  auto opts = std::make_shared<CommonOptions>();
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Run E environments of the scenario for T steps with its built-in policies and report\n"
      "social welfare, revenue and per-agent value, cost, wins (and conversions, score with CPA targets).\n"
      "Outputs with --out DIR: DIR/summary.json (machine-readable) and DIR/steps.csv (one row per step).\n"
      "Under mpirun -np K the environments are split across K ranks; results equal -np 1.");
  add_common_options(*cmd, *opts, "default.yaml");
  commands.push_back({cmd, [opts] { return run_simulate(*opts); }});
}

}  // namespace bidsim
