// mesob scenario files (scenarios/mesob-*.yaml): the auction game, welfare constants, solver
// defaults, the Pareto grid, the heuristic's parameters and the bridge's market size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mesob/game.hpp"
#include "mesob/solvers.hpp"

namespace bidsim::mesob {

// Running a mean-field policy in the N-agent engine (mesob/bridge.hpp).
struct BridgeConfig {
  int agents = 10000;        // N
  int impressions = 20000;   // auctions per step
  int envs = 2;              // independent environments
};

struct MesobScenario {
  std::string source;
  std::string name;
  std::uint64_t seed = 1;
  std::string mu0_note;      // how μ0 was given, for the summary
  AuctionGameConfig game;
  SolverConfig solver;       // defaults for `bidsim mesob`
  std::vector<double> pareto_lambda1, pareto_lambda2;  // grid of `bidsim mesob-pareto` (pairs (0, 0) skipped)
  BridgeConfig bridge;
};

// Throws ScenarioError (one line: file, key, value, expectation) on any problem.
MesobScenario load_mesob_scenario(const std::string& path, const std::vector<std::string>& overrides = {});
MesobScenario parse_mesob_scenario(const std::string& yaml_text, const std::string& source,
                                   const std::vector<std::string>& overrides = {});

}  // namespace bidsim::mesob
