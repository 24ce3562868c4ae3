// Shared option handling of the `bidsim` subcommands.
#include "tools/commands.hpp"

#include <filesystem>

namespace bidsim {

namespace fs = std::filesystem;

std::string scenario_path(const std::string& file) {
  const fs::path local = fs::path("scenarios") / file;
  if (fs::exists(local)) return local.string();
  return (fs::path(BIDSIM_SOURCE_DIR) / "scenarios" / file).string();
}

void add_common_options(CLI::App& cmd, CommonOptions& o, const std::string& default_scenario_file) {
  cmd.add_option("scenario", o.scenario, "Scenario YAML (default: scenarios/" + default_scenario_file + ")");
  cmd.add_option("--set", o.sets,
                 "Override a scenario key: --set market.envs=16 --set agents.budget=[1,2,3] (repeatable)")
      ->take_all()->allow_extra_args(false);
  cmd.add_option("--seed", o.seed, "Random seed (same as --set seed=S)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--device", o.device, "Backend: auto (GPU when present), cpu or cuda");
  cmd.add_option("--out", o.out, "Directory for the outputs (created if missing)");
  cmd.add_option("--threads", o.threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd.add_flag("--quiet", o.quiet, "Print only the one-line result");
}

std::vector<std::string> overrides_of(const CommonOptions& o) {
  std::vector<std::string> overrides = o.sets;
  if (o.seed >= 0) overrides.push_back("seed=" + std::to_string(o.seed));
  return overrides;
}

}  // namespace bidsim
