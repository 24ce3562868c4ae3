// The `bidsim` command-line program: parses flags, loads the scenario, runs the command and writes
// its outputs atomically. Every user error ends as one line on stderr and exit status 2.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "engine/policies.hpp"
#include "engine/scenario.hpp"
#include "engine/simulate.hpp"
#include "engine/simulator.hpp"
#include "tools/output.hpp"

namespace fs = std::filesystem;
using bidsim::ScenarioError;
using bidsim::UsageError;

namespace {

constexpr int kExitUsage = 2;

std::string default_scenario() {
  const fs::path local = "scenarios/default.yaml";
  if (fs::exists(local)) return local.string();
  return (fs::path(BIDSIM_SOURCE_DIR) / "scenarios" / "default.yaml").string();
}

struct CommonOptions {
  std::string scenario;
  std::vector<std::string> sets;
  long long seed = -1;
  std::string device = "auto";
  std::string out;
  int threads = 0;
  bool quiet = false;
};

void add_common(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("scenario", o.scenario, "Scenario YAML (default: scenarios/default.yaml)");
  cmd.add_option("--set", o.sets,
                 "Override a scenario key: --set market.envs=16 --set agents.budget=[1,2,3] (repeatable)")
      ->take_all()->allow_extra_args(false);
  cmd.add_option("--seed", o.seed, "Random seed (same as --set seed=S)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--device", o.device, "Backend: auto (GPU when present), cpu or cuda");
  cmd.add_option("--out", o.out, "Directory for summary.json and steps.csv (created if missing)");
  cmd.add_option("--threads", o.threads, "CPU threads for environments (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd.add_flag("--quiet", o.quiet, "Print only the one-line result");
}

bidsim::Scenario load(const CommonOptions& o) {
  std::vector<std::string> overrides = o.sets;
  if (o.seed >= 0) overrides.push_back("seed=" + std::to_string(o.seed));
  const std::string path = o.scenario.empty() ? default_scenario() : o.scenario;
  return bidsim::load_scenario(path, overrides);
}

int run_simulate(const CommonOptions& o) {
  const bidsim::Scenario scenario = load(o);
  const bidsim::Device device = bidsim::parse_device(o.device);
  if (!o.out.empty()) bidsim::prepare_output_dir(o.out);
  bidsim::Simulator sim(scenario, device, o.threads);
  bidsim::BuiltinPolicies policies(scenario);
  const bidsim::SimulationResult result = bidsim::simulate(sim, policies);
  bidsim::print_simulation(std::cout, scenario, sim.backend_name(), result, o.quiet);
  if (!o.out.empty()) {
    bidsim::write_simulation_json(o.out, scenario, sim.backend_name(), result);
    bidsim::write_steps_csv(o.out, result);
    if (!o.quiet) std::cout << "wrote " << (fs::path(o.out) / "summary.json").string() << " and "
                            << (fs::path(o.out) / "steps.csv").string() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bidsim: GPU-batched auto-bidding market simulation and equilibrium learning.\n"
               "Scenarios are YAML files (scenarios/README.md documents every key)."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every command");

  CommonOptions simulate_opts;
  CLI::App* simulate = app.add_subcommand(
      "simulate",
      "Run E environments of the scenario for T steps with its built-in policies and report\n"
      "social welfare, revenue and per-agent value, cost, wins (and conversions, score with CPA targets).\n"
      "Outputs with --out DIR: DIR/summary.json (machine-readable) and DIR/steps.csv (one row per step).");
  add_common(*simulate, simulate_opts);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << "bidsim: " << what << " (see bidsim --help)\n";
    return kExitUsage;
  }

  try {
    if (simulate->parsed()) return run_simulate(simulate_opts);
  } catch (const ScenarioError& e) {
    std::cerr << "bidsim: " << e.what() << "\n";
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "bidsim: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "bidsim: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
