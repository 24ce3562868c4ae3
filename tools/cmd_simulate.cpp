// `bidsim simulate`: run the scenario's built-in policies in the batched market and report welfare,
// revenue and per-agent outcomes; --out writes summary.json and steps.csv atomically.
#include <filesystem>
#include <iostream>
#include <memory>

#include "engine/policies.hpp"
#include "engine/scenario.hpp"
#include "engine/simulate.hpp"
#include "engine/simulator.hpp"
#include "tools/commands.hpp"
#include "tools/output.hpp"

namespace bidsim {

namespace {

int run_simulate(const CommonOptions& o) {
  const Scenario scenario = load_scenario(o.scenario.empty() ? scenario_path("default.yaml") : o.scenario,
                                          overrides_of(o));
  const Device device = parse_device(o.device);
  if (!o.out.empty()) prepare_output_dir(o.out);
  Simulator sim(scenario, device, o.threads);
  BuiltinPolicies policies(scenario);
  const SimulationResult result = simulate(sim, policies);
  print_simulation(std::cout, scenario, sim.backend_name(), result, o.quiet);
  if (!o.out.empty()) {
    write_simulation_json(o.out, scenario, sim.backend_name(), result);
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
      "Outputs with --out DIR: DIR/summary.json (machine-readable) and DIR/steps.csv (one row per step).");
  add_common_options(*cmd, *opts, "default.yaml");
  commands.push_back({cmd, [opts] { return run_simulate(*opts); }});
}

}  // namespace bidsim
