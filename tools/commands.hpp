// The pieces every `bidsim` subcommand shares (scenario path, --set, --seed, --device, --out) and
// the registration hooks of the command files, so each area (market, mean field, learning) owns its
// command in its own file and bidsim.cpp only dispatches.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

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
};

// Adds the positional scenario and --set, --seed, --device, --out, --threads, --quiet.
void add_common_options(CLI::App& cmd, CommonOptions& o, const std::string& default_scenario_file);

// `file` under ./scenarios when it exists there, else under the source tree's scenarios/.
std::string scenario_path(const std::string& file);

// The --set list plus "seed=S" when --seed was given.
std::vector<std::string> overrides_of(const CommonOptions& o);

// A registered subcommand: run() is called when it was parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
using CommandList = std::vector<Command>;

void add_simulate_command(CLI::App& app, CommandList& commands);
void add_mesob_commands(CLI::App& app, CommandList& commands);
// `train` and `evaluate` (tools/cmd_train.cpp); registered only in builds with LibTorch.
void add_learning_commands(CLI::App& app, CommandList& commands);

}  // namespace bidsim
