// Scenario loading: YAML -> Scenario with defaults, strict validation and `--set` overrides.
// Every problem is reported as one ScenarioError line naming the file, key path, value and expectation.
#pragma once

#include <string>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/core/errors.hpp"

namespace bidsim {

// Loads `path`, applies `overrides` ("key.path=value", value parsed as YAML) in order, validates.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

// Same from YAML text; `source` names it in messages and relative `values.file` paths resolve
// against `base_dir`.
Scenario parse_scenario(const std::string& yaml_text, const std::string& source,
                        const std::vector<std::string>& overrides = {},
                        const std::string& base_dir = ".");

// Reads a `step,impression,agent,value` CSV into `out` (validated against T and N).
void load_value_file(const std::string& path, int steps, int agents, FileValues& out);

}  // namespace bidsim
