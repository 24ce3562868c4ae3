// Runs two steps of the installed default scenario through the installed engine and prints the revenue.
#include <iostream>
#include <vector>

#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"

int main() {
  const bidsim::Scenario scenario =
      bidsim::load_scenario(std::string(SCENARIOS_DIR) + "/default.yaml", {"market.envs=1", "market.steps=2"});
  bidsim::Simulator simulator(scenario, bidsim::Device::cpu, 1);
  simulator.reset();
  std::vector<float> multipliers(scenario.agents.count, 1.0f);
  while (!simulator.done()) simulator.step(multipliers.data());
  std::cout << "revenue " << simulator.state().revenue[0] << "\n";
  return simulator.state().revenue[0] > 0 ? 0 : 1;
}
