// The `learning:` scenario section, read with the engine's strict YamlReader so a typo in a
// hyper-parameter is the same one-line ScenarioError as a typo in the market.
#include "rl/learning_config.hpp"

#include "engine/core/errors.hpp"
#include "engine/facade/yaml_reader.hpp"

namespace bidsim::rl {

const char* to_string(Algorithm a) {
  switch (a) {
    case Algorithm::bpg: return "bpg";
    case Algorithm::bpg_zero: return "bpg_zero";
    case Algorithm::independent: return "independent";
    default: return "cooperative";
  }
}

Algorithm parse_algorithm(const std::string& text) {
  for (Algorithm a : {Algorithm::bpg, Algorithm::bpg_zero, Algorithm::independent, Algorithm::cooperative})
    if (text == to_string(a)) return a;
  throw UsageError("--algo: got '" + text + "', expected bpg, bpg_zero, independent or cooperative");
}

namespace {

LearningConfig read(const YAML::Node& root, const std::string& source) {
  LearningConfig c;
  YamlReader top(root, "", source);
  if (!top.has("learning")) return c;
  YamlReader r = top.map("learning");
  c.algorithm = static_cast<Algorithm>(r.choice("algorithm", {"bpg", "bpg_zero", "independent", "cooperative"}));
  c.iterations = static_cast<int>(r.integer("iterations", c.iterations, 0, 1'000'000));
  c.epsilon = r.number("epsilon", c.epsilon, 0.0, 1e6);
  c.xi = r.number("xi", c.xi, 0.0, 1e9);
  c.xi_margin = r.number("xi_margin", c.xi_margin, 1e-3, 1e6);  // > 0: (1 − ξ/λ̄) < 0 strictly
  c.optimizer = static_cast<OptimizerKind>(r.choice("optimizer", {"sgd", "adam"}));
  c.lr_policy = r.number("lr_policy", c.lr_policy, 0.0, 1e3);
  c.lr_unified_optimizer = r.number("lr_unified_optimizer", c.lr_unified_optimizer, 0.0, 1e3);
  c.lr_unified_solution = r.number("lr_unified_solution", c.lr_unified_solution, 0.0, 1e3);
  c.unified_solution_steps = static_cast<int>(r.integer("unified_solution_steps", c.unified_solution_steps, 1, 10'000));
  c.dual_envs_per_agent = static_cast<int>(r.integer("dual_envs_per_agent", c.dual_envs_per_agent, 1, 4096));
  c.dual_max_envs = static_cast<int>(r.integer("dual_max_envs", c.dual_max_envs, 1, 1 << 20));
  if (c.dual_max_envs < c.dual_envs_per_agent)
    r.fail("dual_max_envs", std::to_string(c.dual_max_envs) + " is below dual_envs_per_agent (" +
                                std::to_string(c.dual_envs_per_agent) + "), expected at least one agent per batch");
  c.hidden = static_cast<int>(r.integer("hidden", c.hidden, 1, 4096));
  c.initial_multiplier = r.number("initial_multiplier", c.initial_multiplier, 1e-6, 1e6);
  c.initial_log_std = r.number("initial_log_std", c.initial_log_std, -10.0, 3.0);
  c.min_log_std = r.number("min_log_std", c.min_log_std, -20.0, 3.0);
  if (c.min_log_std > c.initial_log_std)
    r.fail("min_log_std", YamlReader::num(c.min_log_std) + " is above initial_log_std, expected at most " +
                              YamlReader::num(c.initial_log_std));
  if (r.has("best_response")) {
    YamlReader b = r.map("best_response");
    BestResponseConfig& br = c.best_response;
    br.steps = static_cast<int>(b.integer("steps", br.steps, 0, 100'000));
    br.envs_per_agent = static_cast<int>(b.integer("envs_per_agent", br.envs_per_agent, 1, 4096));
    br.eval_envs_per_agent = static_cast<int>(b.integer("eval_envs_per_agent", br.eval_envs_per_agent, 1, 4096));
    br.selection_envs_per_agent =
        static_cast<int>(b.integer("selection_envs_per_agent", br.selection_envs_per_agent, 1, 4096));
    br.check_every = static_cast<int>(b.integer("check_every", br.check_every, 1, 100'000));
    br.patience = static_cast<int>(b.integer("patience", br.patience, 1, 100'000));
    br.min_improvement = b.number("min_improvement", br.min_improvement, 0.0, 1.0);
    br.confidence = b.number("confidence", br.confidence, 0.5, 0.999999);
    br.hidden = static_cast<int>(b.integer("hidden", br.hidden, 1, 1024));
    br.lr = b.number("lr", br.lr, 0.0, 1e3);
    br.initial_log_std = b.number("initial_log_std", br.initial_log_std, -10.0, 3.0);
    br.max_agents = static_cast<int>(b.integer("max_agents", br.max_agents, 1, 1 << 24));
    b.finish();
  }
  r.finish();
  return c;
}

}  // namespace

LearningConfig parse_learning_config(const std::string& yaml_text, const std::string& source,
                                     const std::vector<std::string>& overrides) {
  return read(load_yaml_text(yaml_text, source, overrides), source);
}

LearningConfig load_learning_config(const std::string& path, const std::vector<std::string>& overrides) {
  return read(load_yaml_file(path, overrides), path);
}

}  // namespace bidsim::rl
