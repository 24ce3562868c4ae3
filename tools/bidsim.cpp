// The `bidsim` command-line program: registers the subcommands (one file each), parses flags and
// dispatches. Every user error ends as one line on stderr and exit status 2.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <string>

#include "engine/errors.hpp"
#include "tools/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"bidsim: GPU-batched auto-bidding market simulation and equilibrium learning.\n"
               "Scenarios are YAML files (scenarios/README.md documents every key)."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every command");

  bidsim::CommandList commands;
  bidsim::add_simulate_command(app, commands);
  bidsim::add_mesob_commands(app, commands);
#ifdef BIDSIM_HAVE_TORCH
  bidsim::add_learning_commands(app, commands);
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
    std::cerr << "bidsim: " << what << " (see bidsim --help)\n";
    return bidsim::kExitUsage;
  }

  try {
    for (const bidsim::Command& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const bidsim::ScenarioError& e) {
    std::cerr << "bidsim: " << e.what() << "\n";
    return bidsim::kExitUsage;
  } catch (const bidsim::UsageError& e) {
    std::cerr << "bidsim: " << e.what() << "\n";
    return bidsim::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "bidsim: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
