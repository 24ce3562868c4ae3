// Shared helpers for the bidsim tests: temporary directories, value CSVs, one-call scenario +
// simulator construction, and running steps with chosen multipliers. Header-only, test code only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/core/market_state.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"

namespace bidsim_test {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "bidsim-test-XXXXXX").string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = file(name);
    std::ofstream f(p, std::ios::binary);
    f << text;
    return p;
  }

 private:
  std::string path_;
};

// One row of a `values.model: file` CSV.
struct ValueRow {
  int step, impression, agent;
  float value;
};

// Writes rows as `step,impression,agent,value` with enough digits that the float round-trips.
inline std::string value_csv(const std::vector<ValueRow>& rows) {
  std::ostringstream o;
  o << "step,impression,agent,value\n";
  char buf[64];
  for (const ValueRow& r : rows) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(r.value));
    o << r.step << ',' << r.impression << ',' << r.agent << ',' << buf << '\n';
  }
  return o.str();
}

// A scenario and a CPU simulator over it. The simulator keeps a reference to the scenario, so the
// two live together and the object is neither copied nor moved.
class Market {
 public:
  Market(const std::string& yaml, const std::vector<std::string>& overrides = {}, int threads = 1,
         const std::string& base_dir = ".")
      : scenario_(bidsim::parse_scenario(yaml, "test.yaml", overrides, base_dir)),
        sim_(scenario_, bidsim::Device::cpu, threads) {
    sim_.reset(0);
  }
  Market(const Market&) = delete;
  Market& operator=(const Market&) = delete;

  const bidsim::Scenario& scenario() const { return scenario_; }
  bidsim::Simulator& sim() { return sim_; }
  const bidsim::MarketState& state() { return sim_.state(); }
  int envs() const { return scenario_.market.envs; }
  int agents() const { return scenario_.agents.count; }
  std::size_t a(int env, int agent) const {
    return static_cast<std::size_t>(env) * scenario_.agents.count + agent;
  }

  // One step with the same multipliers in every environment (`per_agent` has N entries).
  const bidsim::MarketState& step(const std::vector<float>& per_agent) {
    std::vector<float> m(static_cast<std::size_t>(envs()) * agents());
    for (int e = 0; e < envs(); ++e)
      for (int i = 0; i < agents(); ++i) m[a(e, i)] = per_agent.at(i);
    sim_.step(m.data());
    return sim_.state();
  }
  // One step with every multiplier equal to `x`.
  const bidsim::MarketState& step_all(float x) {
    return step(std::vector<float>(static_cast<std::size_t>(agents()), x));
  }
  // One step with a full [E][N] multiplier array.
  const bidsim::MarketState& step_raw(const std::vector<float>& all) {
    sim_.step(all.data());
    return sim_.state();
  }

 private:
  bidsim::Scenario scenario_;
  bidsim::Simulator sim_;
};

// A file-valued market: `rows` go to values.csv in a temp dir, `yaml_body` gives every other key
// (it must not set `values`). Owns the temp dir for the market's lifetime.
class FileMarket {
 public:
  FileMarket(const std::string& yaml_body, const std::vector<ValueRow>& rows,
             const std::vector<std::string>& overrides = {}, int threads = 1) {
    dir_.write("values.csv", value_csv(rows));
    market_ = std::make_unique<Market>(yaml_body + "\nvalues: {model: file, file: values.csv}\n",
                                       overrides, threads, dir_.path());
  }
  Market& operator*() { return *market_; }
  Market* operator->() { return market_.get(); }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<Market> market_;
};

// Every field of a MarketState, for bitwise comparisons between runs.
inline auto state_fields(const bidsim::MarketState& s) {
  return std::tie(s.remaining_budget, s.cost, s.value, s.conversions, s.reward, s.wins, s.exposures,
                  s.bid_count, s.step_cost, s.step_value, s.step_conversions, s.step_reward,
                  s.step_wins, s.step_exposures, s.step_bid_count, s.step_multiplier,
                  s.observation, s.impressions, s.passes, s.revenue);
}

// Whether the scenario parser rejects `yaml` with a ScenarioError; returns the message ("" if not).
inline std::string scenario_error(const std::string& yaml, const std::vector<std::string>& overrides = {},
                                  const std::string& base_dir = ".") {
  try {
    bidsim::parse_scenario(yaml, "test.yaml", overrides, base_dir);
  } catch (const bidsim::ScenarioError& e) {
    return e.what();
  }
  return "";
}

}  // namespace bidsim_test
