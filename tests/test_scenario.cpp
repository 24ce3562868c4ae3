// The scenario loader (engine/facade/scenario.cpp): defaults, `--set` overrides, shipped scenarios, and
// bad input, where every error must be one ScenarioError line naming the key path and the value.
// Also the output writers of tools/output.cpp (atomic files, summary.json keys).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <numeric>
#include <string>
#include <vector>

#include "engine/core/errors.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulate.hpp"
#include "engine/facade/simulator.hpp"
#include "test_support.hpp"
#include "tools/output.hpp"

using bidsim_test::TempDir;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Checks that `message` is one line and contains every fragment (case-insensitive).
void check_message(const std::string& message, std::initializer_list<std::string> fragments) {
  INFO("message: " << message);
  CHECK_FALSE(message.empty());
  CHECK(message.find('\n') == std::string::npos);
  for (const std::string& f : fragments) {
    INFO("expected fragment: " << f);
    CHECK(lower(message).find(lower(f)) != std::string::npos);
  }
}

// parse_scenario must throw ScenarioError (and nothing else) whose message has every fragment.
void expect_error(const std::string& yaml, std::initializer_list<std::string> fragments,
                  const std::vector<std::string>& overrides = {}, const std::string& base_dir = ".") {
  INFO("yaml: " << yaml);
  std::string message;
  try {
    bidsim::parse_scenario(yaml, "test.yaml", overrides, base_dir);
    FAIL("no error for this scenario");
  } catch (const bidsim::ScenarioError& e) {
    message = e.what();
  } catch (const std::exception& e) {
    FAIL("threw a non-ScenarioError: " << e.what());
  }
  check_message(message, fragments);
}

std::string scenarios_dir() { return std::string(BIDSIM_SOURCE_DIR) + "/scenarios"; }

}  // namespace

// ----- defaults and overrides -----------------------------------------------------------------

TEST_CASE("scenario: an empty document gives the documented defaults", "[scenario]") {
  const bidsim::Scenario s = bidsim::parse_scenario("", "empty.yaml");
  CHECK(s.source == "empty.yaml");
  CHECK(s.market.envs == 1);
  CHECK(s.market.steps == 24);
  CHECK(s.agents.count == 10);
  CHECK(s.agents.categories == 1);
  CHECK(s.agents.budget == std::vector<double>(10, 1000.0));
  CHECK(s.agents.value_scale == std::vector<double>(10, 1.0));
  CHECK(s.agents.cpa.empty());
  CHECK(s.impressions.per_step == 1000);
  CHECK(s.values.model == bidsim::ValueModel::procedural);
  CHECK(s.candidates.mode == bidsim::CandidateMode::dense);
  CHECK(s.mechanism.kind == bidsim::MechanismKind::second_price);
  CHECK(s.mechanism.slots == 1);
  CHECK(s.mechanism.exposure == std::vector<double>{1.0});
  CHECK(s.mechanism.reserve == 0.0);
  CHECK_FALSE(s.mechanism.charge_on_exposure);
  CHECK_FALSE(s.mechanism.unsold_at_reserve);
  CHECK(s.budget.overspend == bidsim::OverspendRule::auctionnet);
  CHECK(s.reward == bidsim::RewardKind::value);
  REQUIRE(s.policies.size() == 1);
  CHECK(s.policies[0].kind == bidsim::PolicyKind::truthful);
  CHECK(s.policies[0].agents.size() == 10);
}

TEST_CASE("scenario: GSP defaults to 3 slots, all shown", "[scenario][gsp]") {
  const bidsim::Scenario s = bidsim::parse_scenario("mechanism: {type: gsp}", "t.yaml");
  CHECK(s.mechanism.slots == 3);
  CHECK(s.mechanism.exposure == std::vector<double>{1.0, 1.0, 1.0});
}

TEST_CASE("scenario: per-agent parameters as scalar, list and uniform range", "[scenario]") {
  const bidsim::Scenario s = bidsim::parse_scenario(
      "agents: {count: 4, categories: 2, budget: [1, 2, 3, 4], cpa: 5, value_scale: {uniform: [0.5, 1.5]}}",
      "t.yaml");
  CHECK(s.agents.budget == std::vector<double>{1, 2, 3, 4});
  CHECK(s.agents.cpa == std::vector<double>(4, 5.0));
  CHECK(s.agents.category == std::vector<int>{0, 0, 1, 1});  // contiguous blocks
  for (double v : s.agents.value_scale) {
    CHECK(v >= 0.5);
    CHECK(v <= 1.5);
  }
  // Drawn per agent from the seed: not all equal, and reproducible.
  CHECK(std::adjacent_find(s.agents.value_scale.begin(), s.agents.value_scale.end(),
                           std::not_equal_to<>()) != s.agents.value_scale.end());
  const bidsim::Scenario again = bidsim::parse_scenario(
      "agents: {count: 4, categories: 2, budget: [1, 2, 3, 4], cpa: 5, value_scale: {uniform: [0.5, 1.5]}}",
      "t.yaml");
  CHECK(again.agents.value_scale == s.agents.value_scale);
}

TEST_CASE("scenario: --set overrides are applied in order", "[scenario][override]") {
  const std::string yaml = "market: {envs: 1, steps: 5}\nagents: {count: 3, budget: [1, 2, 3]}\n";
  SECTION("a scalar") {
    const auto s = bidsim::parse_scenario(yaml, "t.yaml", {"market.envs=3"});
    CHECK(s.market.envs == 3);
    CHECK(s.market.steps == 5);
  }
  SECTION("the last of two wins") {
    CHECK(bidsim::parse_scenario(yaml, "t.yaml", {"market.envs=3", "market.envs=4"}).market.envs == 4);
  }
  SECTION("a list value") {
    CHECK(bidsim::parse_scenario(yaml, "t.yaml", {"agents.budget=[7, 8, 9]"}).agents.budget ==
          std::vector<double>{7, 8, 9});
  }
  SECTION("a list element by index") {
    CHECK(bidsim::parse_scenario(yaml, "t.yaml", {"agents.budget.1=20"}).agents.budget ==
          std::vector<double>{1, 20, 3});
  }
  SECTION("a key inside a list item (policies.0.multiplier)") {
    const auto s = bidsim::parse_scenario(yaml + "policies: [{type: constant, multiplier: 0.5}]\n", "t.yaml",
                                          {"policies.0.multiplier=0.9"});
    CHECK(s.policies[0].multiplier == std::vector<double>(3, 0.9));
  }
  SECTION("a section the file does not have") {
    const auto s = bidsim::parse_scenario(yaml, "t.yaml", {"mechanism.reserve=0.5", "seed=42"});
    CHECK(s.mechanism.reserve == 0.5);
    CHECK(s.seed == 42u);
  }
  SECTION("an unknown key is rejected") {
    expect_error(yaml, {"market.agnts", "unknown key"}, {"market.agnts=3"});
  }
  SECTION("a bad value is rejected like one in the file") {
    expect_error(yaml, {"market.envs", "abc"}, {"market.envs=abc"});
  }
  SECTION("no '=' is rejected") {
    expect_error(yaml, {"--set", "market.envs"}, {"market.envs"});
  }
  SECTION("an empty key component is rejected") {
    expect_error(yaml, {"--set", "market..envs"}, {"market..envs=2"});
  }
  SECTION("invalid YAML in the value is rejected") {
    expect_error(yaml, {"--set", "agents.budget"}, {"agents.budget=[1, 2"});
  }
  SECTION("a list index out of range is rejected") {
    expect_error(yaml, {"agents.budget", "7"}, {"agents.budget.7=1"});
  }
}

TEST_CASE("scenario: policy agent selectors", "[scenario][policy]") {
  const bidsim::Scenario s = bidsim::parse_scenario(R"(
agents: {count: 9, categories: 3}
policies:
  - {name: a, type: truthful, agents: {range: [0, 2]}}
  - {name: b, type: constant, multiplier: 2, agents: {category: 1}}
  - {name: c, type: truthful, agents: [2, 6, 7, 8]}
)", "t.yaml");
  REQUIRE(s.policies.size() == 3);
  CHECK(s.policies[0].agents == std::vector<int>{0, 1});
  CHECK(s.policies[1].agents == std::vector<int>{3, 4, 5});
  CHECK(s.policies[1].multiplier == std::vector<double>(9, 2.0));
  CHECK(s.policies[2].agents == std::vector<int>{2, 6, 7, 8});
  CHECK(s.policies[2].name == "c");
  const bidsim::Scenario all = bidsim::parse_scenario("agents: {count: 3}\npolicies: [{type: truthful, agents: all}]", "t.yaml");
  CHECK(all.policies[0].agents == std::vector<int>{0, 1, 2});
  CHECK(all.policies[0].name == "truthful");
}

// ----- shipped scenarios ----------------------------------------------------------------------

TEST_CASE("scenario: every shipped scenario loads and runs a step", "[scenario]") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scenarios_dir())) {
    if (entry.path().extension() != ".yaml") continue;
    // Mean-field scenarios (mesob-*.yaml) have their own schema; tests/test_mesob.cpp loads them.
    if (entry.path().stem().string().rfind("mesob-", 0) == 0) continue;
    INFO(entry.path().string());
    ++count;
    bidsim::Scenario s;
    REQUIRE_NOTHROW(s = bidsim::load_scenario(entry.path().string()));
    CHECK(s.source == entry.path().string());
    CHECK(s.name == entry.path().stem().string());
    // One short step on one environment with a tenth of the traffic.
    std::vector<std::string> small = {"market.envs=1"};
    if (s.impressions.profile.empty()) small.push_back("impressions.per_step=100");
    else small.push_back("impressions.total=" + std::to_string(s.impressions.total / 10));
    const bidsim::Scenario t = bidsim::load_scenario(entry.path().string(), small);
    bidsim::Simulator sim(t, bidsim::Device::cpu, 1);
    bidsim::BuiltinPolicies policies(t);
    std::vector<float> m(t.agents.count);
    sim.reset(0);
    policies.act(sim.state(), m.data());
    sim.step(m.data());
    CHECK(sim.state().step == 1);
  }
  CHECK(count >= 2);
}

TEST_CASE("scenario: the AuctionNet preset carries AuctionNet's constants", "[scenario][auctionnet]") {
  const bidsim::Scenario s = bidsim::load_scenario(scenarios_dir() + "/auctionnet.yaml");
  CHECK(s.agents.count == 48);
  CHECK(s.market.steps == 48);
  CHECK(s.agents.categories == 6);
  for (int i = 0; i < 48; ++i) CHECK(s.agents.category[i] == i / 8);
  CHECK(s.agents.budget[0] == 2900);
  CHECK(s.agents.budget[47] == 2050);
  CHECK(std::accumulate(s.agents.budget.begin(), s.agents.budget.end(), 0.0) == 150000.0);
  CHECK(s.agents.cpa[0] == 100);
  CHECK(s.agents.cpa[47] == 120);
  CHECK(s.mechanism.kind == bidsim::MechanismKind::gsp);
  CHECK(s.mechanism.slots == 3);
  CHECK(s.mechanism.exposure == std::vector<double>{1.0, 0.8, 0.6});
  CHECK(s.mechanism.exposure_cascade);
  CHECK(s.mechanism.reserve == 1e-4);
  CHECK(s.mechanism.unsold_at_reserve);
  CHECK(s.mechanism.charge_on_exposure);
  CHECK(s.budget.floor == 0.1);
  CHECK(s.budget.overspend == bidsim::OverspendRule::auctionnet);
  CHECK(s.reward == bidsim::RewardKind::conversions);
  CHECK(s.values.model == bidsim::ValueModel::auctionnet);
  CHECK(s.impressions.profile.size() == 48);
  CHECK(s.impressions.total == 500000);
  CHECK(s.impressions.jitter.window == 4);
  // Per episode: jittered shares renormalized to the total, truncated per tick.
  bidsim::Simulator sim(s, bidsim::Device::cpu, 1);
  for (std::uint64_t episode : {0u, 1u}) {
    sim.reset(episode);
    const auto& imp = sim.state().impressions;
    const long long total = std::accumulate(imp.begin(), imp.end(), 0LL);
    CHECK(total <= 500000);
    CHECK(total > 500000 - 48);
  }
}

TEST_CASE("scenario: load_scenario resolves values.file against the scenario's folder", "[scenario][values][file]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("sub"));
  dir.write("sub/values.csv", "step,impression,agent,value\n0,0,0,1.5\n0,2,1,2\n");
  const std::string path = dir.write("sub/s.yaml",
      "market: {steps: 1}\nagents: {count: 2}\nvalues: {model: file, file: values.csv}\n");
  const bidsim::Scenario s = bidsim::load_scenario(path);
  CHECK(s.values.file.path == dir.file("sub") + "/values.csv");
  CHECK(s.values.file.impressions == std::vector<int>{3});
  CHECK(s.values.file.max_candidates == 1);
  CHECK(s.values.file.agent == std::vector<std::int32_t>{0, 1});
  CHECK(s.values.file.value == std::vector<float>{1.5f, 2.0f});
  // Absolute paths are used as given.
  const bidsim::Scenario t = bidsim::parse_scenario(
      "market: {steps: 1}\nagents: {count: 2}\nvalues: {model: file, file: " + dir.file("sub/values.csv") + "}\n",
      "t.yaml", {}, "/nonexistent");
  CHECK(t.values.file.impressions == std::vector<int>{3});
}

TEST_CASE("scenario: load_scenario on a missing file names it", "[scenario][errors]") {
  try {
    bidsim::load_scenario("/nonexistent/nothing.yaml");
    FAIL("no error");
  } catch (const bidsim::ScenarioError& e) {
    check_message(e.what(), {"/nonexistent/nothing.yaml"});
  }
}

// ----- bad input: one line naming the key path and the value ---------------------------------

TEST_CASE("scenario errors: malformed YAML", "[scenario][errors]") {
  expect_error("market: {envs: 2\n", {"test.yaml", "malformed YAML"});
  expect_error("a: [1, 2\nb: 3\n", {"test.yaml", "malformed"});
}

TEST_CASE("scenario errors: unknown keys", "[scenario][errors]") {
  expect_error("bogus: 1", {"test.yaml", "bogus", "unknown key"});
  expect_error("market: {agnts: 3}", {"market.agnts", "unknown key"});
  expect_error("mechanism: {type: gsp, slot: 2}", {"mechanism.slot", "unknown key"});
  expect_error("policies: [{type: truthful, colour: red}]", {"policies[0].colour", "unknown key"});
  expect_error("impressions: {per_step: 10, jitter: {window: 2}}", {"impressions.jitter"});
}

TEST_CASE("scenario errors: wrong types", "[scenario][errors]") {
  expect_error("market: {envs: abc}", {"market.envs", "abc", "integer"});
  expect_error("market: {envs: 2.5}", {"market.envs", "2.5"});
  expect_error("market: 5", {"market", "5", "map"});
  expect_error("mechanism: {unsold_at_reserve: maybe}", {"mechanism.unsold_at_reserve", "maybe"});
  expect_error("reward: money", {"reward", "money", "value"});
  expect_error("mechanism: {type: vickrey}", {"mechanism.type", "vickrey", "gsp"});
  expect_error("budget: {overspend: ignore}", {"budget.overspend", "ignore", "truncate"});
  expect_error("agents: {count: 2, budget: {normal: [1, 2]}}", {"agents.budget"});
  expect_error("name: [a, b]", {"name"});
}

TEST_CASE("scenario errors: out-of-range numbers", "[scenario][errors]") {
  expect_error("agents: {count: 0}", {"agents.count", "0"});
  expect_error("agents: {count: -3}", {"agents.count", "-3"});
  expect_error("market: {steps: 0}", {"market.steps", "0"});
  expect_error("market: {envs: 0}", {"market.envs", "0"});
  expect_error("agents: {count: 2, budget: -5}", {"agents.budget", "-5"});
  expect_error("agents: {count: 2, budget: [1, -5]}", {"agents.budget[1]", "-5"});
  expect_error("agents: {count: 2, budget: .nan}", {"agents.budget", "nan"});
  expect_error("agents: {count: 2, value_scale: .inf}", {"agents.value_scale", "inf"});
  expect_error("agents: {count: 2, cpa: 0}", {"agents.cpa", "0"});
  expect_error("mechanism: {reserve: -1}", {"mechanism.reserve", "-1"});
  expect_error("mechanism: {reserve: .nan}", {"mechanism.reserve", "nan"});
  expect_error("mechanism: {type: gsp, slots: 2, exposure: [1, 1.5]}", {"mechanism.exposure[1]", "1.5"});
  expect_error("budget: {max_passes: 0}", {"budget.max_passes", "0"});
  expect_error("agents: {count: 4, categories: 5}", {"agents.categories", "5"});
  expect_error("agents: {count: 2, category: [0, 1]}", {"agents.category[1]", "1"});
  expect_error("impressions: {per_step: -1}", {"impressions.per_step", "-1"});
  expect_error("values: {sigma: -0.5}", {"values.sigma", "-0.5"});
}

TEST_CASE("scenario errors: mechanism shape", "[scenario][errors][gsp]") {
  expect_error("agents: {count: 2}\nmechanism: {type: gsp, slots: 3}", {"mechanism.slots", "3", "2"});
  expect_error("mechanism: {type: second_price, slots: 2}", {"mechanism.slots", "2", "second_price"});
  expect_error("mechanism: {type: gsp, slots: 9}", {"mechanism.slots", "9"});
  expect_error("mechanism: {type: gsp, slots: 2, exposure: [1]}", {"mechanism.exposure", "[1]", "2"});
  expect_error("mechanism: {type: gsp, slots: 2, exposure: 1}", {"mechanism.exposure", "list"});
  expect_error("agents: {count: 10}\ncandidates: {mode: sparse, per_impression: 2}\nmechanism: {type: gsp, slots: 3}",
               {"mechanism.slots", "3", "2"});
}

TEST_CASE("scenario errors: per-agent lists of the wrong length", "[scenario][errors]") {
  expect_error("agents: {count: 3, budget: [1, 2]}", {"agents.budget", "2 values", "3 values"});
  expect_error("agents: {count: 3, cpa: [1, 2, 3, 4]}", {"agents.cpa", "4 values"});
  expect_error("agents: {count: 3, category: [0, 0]}", {"agents.category"});
  expect_error("market: {steps: 3}\nimpressions: {total: 100, profile: [1, 2]}", {"impressions.profile", "2 shares"});
}

TEST_CASE("scenario errors: sparse candidates", "[scenario][errors][sparse]") {
  expect_error("agents: {count: 6, categories: 3}\ncandidates: {mode: sparse, per_impression: 3, within_category: true}",
               {"candidates.per_impression", "3", "smallest category"});
  expect_error("agents: {count: 6}\ncandidates: {mode: sparse, per_impression: 7}", {"candidates.per_impression", "7"});
  expect_error("candidates: {mode: sparse}", {"candidates.per_impression", "missing"});
  expect_error("candidates: {per_impression: 3}", {"candidates.per_impression", "sparse"});
  // Within the smallest category is fine.
  CHECK_NOTHROW(bidsim::parse_scenario(
      "agents: {count: 6, categories: 3}\ncandidates: {mode: sparse, per_impression: 2, within_category: true}", "t.yaml"));
}

TEST_CASE("scenario errors: policies", "[scenario][errors][policy]") {
  expect_error("policies: [{type: cpa}]", {"policies[0].type", "agents.cpa"});
  expect_error("agents: {count: 2}\npolicies: [{type: truthful, agents: [0, 1]}, {type: constant, multiplier: 1, agents: [1]}]",
               {"policies[1].agents", "agent 1"});
  expect_error("agents: {count: 3}\npolicies: [{type: truthful, agents: [0, 1]}]", {"policies", "agent 2"});
  expect_error("agents: {count: 3}\npolicies: [{type: truthful, agents: [5]}]", {"policies[0].agents[0]", "5"});
  expect_error("policies: [{type: magic}]", {"policies[0].type", "magic"});
  expect_error("policies: [{type: truthful, multiplier: 2}]", {"policies[0].multiplier", "constant"});
  expect_error("policies: [{type: constant}]", {"policies[0].multiplier", "missing"});
  expect_error("agents: {count: 3}\npolicies: [{type: constant, multiplier: [1, 2]}]", {"policies[0].multiplier", "2 values"});
  expect_error("policies: [{type: constant, multiplier: -1}]", {"policies[0].multiplier", "-1"});
  expect_error("policies: [{type: truthful, kp: 1}]", {"policies[0].kp", "pid"});
  expect_error("policies: []", {"policies", "non-empty"});
  expect_error("agents: {count: 2}\npolicies: [{name: a, type: truthful, agents: [0]}, {name: a, type: truthful, agents: [1]}]",
               {"policies[1].name", "'a'"});
  expect_error("agents: {count: 2}\npolicies: [{type: truthful, agents: {range: [1, 1]}}]", {"policies[0].agents.range[1]", "1"});
}

TEST_CASE("scenario errors: deviations", "[scenario][errors][policy]") {
  expect_error("deviations: [{env: 0, agent: 0, policy: nobody}]", {"deviations[0].policy", "nobody", "truthful"});
  expect_error("market: {envs: 2}\ndeviations: [{env: 2, agent: 0, policy: truthful}]", {"deviations[0].env", "2"});
  expect_error("agents: {count: 3}\ndeviations: [{env: 0, agent: 3, policy: truthful}]", {"deviations[0].agent", "3"});
}

TEST_CASE("scenario errors: value model keys", "[scenario][errors][values]") {
  expect_error("values: {model: auctionnet, sigma: 0.5}", {"values.sigma", "procedural"});
  expect_error("values: {model: procedural, auctionnet: {window: 4}}", {"values.auctionnet"});
  expect_error("values: {model: file}", {"values.file", "missing"});
  expect_error("values: {model: procedural, file: x.csv}", {"values.file"});
  expect_error("values: {model: magic}", {"values.model", "magic"});
  expect_error("values: {distribution: cauchy}", {"values.distribution", "cauchy"});
}

TEST_CASE("scenario errors: value files", "[scenario][errors][values][file]") {
  TempDir dir;
  const std::string head = "market: {steps: 2}\nagents: {count: 3}\nvalues: {model: file, file: v.csv}\n";
  auto with_csv = [&](const std::string& csv, std::initializer_list<std::string> fragments) {
    dir.write("v.csv", csv);
    expect_error(head, fragments, {}, dir.path());
  };
  SECTION("missing file") {
    expect_error("agents: {count: 3}\nvalues: {model: file, file: nope.csv}", {"nope.csv", "values.file"}, {}, dir.path());
  }
  SECTION("bad header") { with_csv("step,imp,agent,value\n0,0,0,1\n", {"v.csv:1", "header", "step,imp,agent,value"}); }
  SECTION("empty file") { with_csv("", {"v.csv", "empty"}); }
  SECTION("agent out of range") { with_csv("step,impression,agent,value\n0,0,5,1\n", {"v.csv:2", "agent 5", "0..2"}); }
  SECTION("negative agent") { with_csv("step,impression,agent,value\n0,0,-1,1\n", {"v.csv:2", "agent -1"}); }
  SECTION("step out of range") { with_csv("step,impression,agent,value\n2,0,0,1\n", {"v.csv:2", "step 2", "market.steps"}); }
  SECTION("negative impression") { with_csv("step,impression,agent,value\n0,-4,0,1\n", {"v.csv:2", "impression -4"}); }
  SECTION("duplicate row") {
    with_csv("step,impression,agent,value\n0,0,1,1\n0,1,1,2\n0,0,1,3\n", {"v.csv", "duplicate", "impression 0", "agent 1"});
  }
  SECTION("negative value") { with_csv("step,impression,agent,value\n0,0,0,1\n0,0,1,-1\n", {"v.csv:3", "-1"}); }
  SECTION("NaN value") { with_csv("step,impression,agent,value\n0,0,0,nan\n", {"v.csv:2", "nan"}); }
  SECTION("not a number") { with_csv("step,impression,agent,value\n0,x,0,1\n", {"v.csv:2", "'x'"}); }
  SECTION("too few fields") { with_csv("step,impression,agent,value\n0,0,1\n", {"v.csv:2", "0,0,1", "4"}); }
  SECTION("too many fields") { with_csv("step,impression,agent,value\n0,0,1,2,3\n", {"v.csv:2", "4"}); }
  SECTION("impressions key with a value file") {
    dir.write("v.csv", "step,impression,agent,value\n0,0,0,1\n");
    expect_error(head + "impressions: {per_step: 5}\n", {"impressions", "file"}, {}, dir.path());
  }
  SECTION("sparse candidates with a value file") {
    dir.write("v.csv", "step,impression,agent,value\n0,0,0,1\n");
    expect_error(head + "candidates: {mode: sparse, per_impression: 1}\n", {"candidates.mode", "file"}, {}, dir.path());
  }
  SECTION("a good file with CRLF line ends and blank lines loads") {
    dir.write("v.csv", "step,impression,agent,value\r\n0,1,2,0.5\r\n\r\n1,0,0,0\r\n");
    const bidsim::Scenario s = bidsim::parse_scenario(head, "t.yaml", {}, dir.path());
    CHECK(s.values.file.impressions == std::vector<int>{2, 1});
  }
}

// Engine bug (reported): Reader::finish() converts every key with as<std::string>(), so a
// sequence used as a key escapes as YAML::BadConversion (the CLI then says "internal error", exit 1).
TEST_CASE("scenario errors: a non-scalar map key is a ScenarioError", "[scenario][errors]") {
  expect_error("? [a, b]\n: 1\n", {"test.yaml"});
}

// ----- inputs that used to be accepted but wrong (issue 17) -------------------------------------

TEST_CASE("scenario errors: an agent listed twice in one policy", "[scenario][errors][policy]") {
  // Used to index the policy list with the policy not yet in it: a segmentation fault.
  expect_error("agents: {count: 2}\npolicies: [{type: truthful, agents: [0, 0, 1]}]",
               {"policies[0].agents", "agent 0", "listed twice"});
  expect_error("agents: {count: 3}\npolicies: [{type: truthful, agents: [2, 1, 0, 2]}]", {"policies[0].agents", "agent 2"});
}

TEST_CASE("scenario errors: duplicate keys name the key and the line of the second one", "[scenario][errors][yaml]") {
  // yaml-cpp keeps the first value: the second (here invalid) one was silently ignored.
  expect_error("market:\n  envs: 2\n  envs: -5\n", {"test.yaml:3", "'envs'", "twice"});
  expect_error("seed: 1\nseed: 2\n", {"test.yaml:2", "'seed'"});
  expect_error("market: {envs: 2, steps: 3, envs: 4}\n", {"test.yaml:1", "'envs'"});
  expect_error("agents: {count: 2}\npolicies:\n  - {type: truthful, agents: [0, 1], type: pid}\n", {"test.yaml:3", "'type'"});
  // The same key in two different maps (or list items) is fine.
  CHECK(bidsim_test::scenario_error("market: {envs: 2}\nagents: {count: 2}\nimpressions: {per_step: 3}\n").empty());
  CHECK(bidsim_test::scenario_error(
            "agents: {count: 2}\npolicies: [{type: truthful, agents: [0]}, {type: truthful, agents: [1]}]\n").empty());
  // Keys of nested maps do not collide with keys of their parent.
  CHECK(bidsim_test::scenario_error("values: {model: auctionnet, auctionnet: {window: 4}}\n").empty());
  // Duplicate keys inside a --set value are refused too.
  expect_error("", {"--set", "twice"}, {"market={envs: 2, envs: 3}"});
}

TEST_CASE("scenario errors: a second YAML document is refused", "[scenario][errors][yaml]") {
  expect_error("market: {envs: 2}\n---\nmarket: {envs: 3}\n", {"test.yaml", "more than one YAML document"});
  expect_error("---\nseed: 3\n---\n", {"test.yaml", "more than one"});
  // One document with an explicit start marker and end marker is fine.
  CHECK(bidsim_test::scenario_error("---\nseed: 3\n...\n").empty());
  CHECK(bidsim_test::scenario_error("").empty());
}

TEST_CASE("scenario errors: a directory given as the scenario", "[scenario][errors]") {
  TempDir dir;
  try {
    bidsim::load_scenario(dir.path());
    FAIL("no error for a directory");
  } catch (const bidsim::ScenarioError& e) {
    check_message(e.what(), {dir.path(), "is a directory"});
  }
}

TEST_CASE("scenario errors: a value beyond float range in a value file", "[scenario][errors][values][file]") {
  TempDir dir;
  const std::string head = "market: {steps: 1}\nagents: {count: 2}\nvalues: {model: file, file: v.csv}\n";
  dir.write("v.csv", "step,impression,agent,value\n0,0,0,1\n0,0,1,1e39\n");
  expect_error(head, {"v.csv:3", "1e39", "float"}, {}, dir.path());
  dir.write("v.csv", "step,impression,agent,value\n0,0,0,inf\n");
  expect_error(head, {"v.csv:2", "inf"}, {}, dir.path());
  // Within float range but beyond exact money: refused by the money range check, never turned into inf.
  dir.write("v.csv", "step,impression,agent,value\n0,0,0,3e38\n");
  expect_error(head, {"65536"}, {}, dir.path());
}

TEST_CASE("scenario errors: seeds beyond 2^63 - 1 are refused, not clamped", "[scenario][errors]") {
  expect_error("seed: 9223372036854775808\n", {"seed", "9223372036854775808"});
  expect_error("seed: 18446744073709551615\n", {"seed"});
  CHECK(bidsim::parse_scenario("seed: 9223372036854775807\n", "t.yaml").seed == 9223372036854775807ull);
}

TEST_CASE("scenario errors: a market larger than this machine's memory names the estimate", "[scenario][errors][limits]") {
  // 2 x 10^5 environments x 10^6 agents: ~50 TB of state, more than any machine has available.
  expect_error("market: {envs: 200000}\nagents: {count: 1000000}\n", {"market", "GiB of host memory", "available"});
}

TEST_CASE("errors: printable_line escapes control bytes and keeps the rest", "[errors]") {
  CHECK(bidsim::printable_line("plain text: 1.5 \xc3\xa9") == "plain text: 1.5 \xc3\xa9");  // UTF-8 kept
  CHECK(bidsim::printable_line("a\nb") == "a\\x0ab");
  CHECK(bidsim::printable_line(std::string("x\0y", 3)) == "x\\x00y");
  CHECK(bidsim::printable_line("\x1b[31mred\x7f") == "\\x1b[31mred\\x7f");
  CHECK(bidsim::printable_line("tab\there\r") == "tab\\x09here\\x0d");
}

TEST_CASE("output: prepare_output_dir refuses a directory holding a run unless told to overwrite", "[output]") {
  TempDir dir;
  const std::string run = dir.file("run");
  bidsim::prepare_output_dir(run, false);  // new
  bidsim::prepare_output_dir(run, false);  // existing but empty: nothing to lose
  dir.write("run/notes.txt", "mine");
  bidsim::prepare_output_dir(run, false);  // files that are not a run's outputs do not count
  for (const char* marker : {"summary.json", "checkpoint.pt", "train.csv", "rollout-rank0.h5"}) {
    TempDir other;
    other.write(marker, "{}");
    try {
      bidsim::prepare_output_dir(other.path(), false);
      FAIL("no error with " << marker);
    } catch (const bidsim::UsageError& e) {
      check_message(e.what(), {"--out", other.path(), marker, "--force"});
    }
    bidsim::prepare_output_dir(other.path(), true);
  }
}

// ----- output writers -------------------------------------------------------------------------

TEST_CASE("output: write_file_atomic replaces the file and leaves no temporary", "[output]") {
  TempDir dir;
  bidsim::write_file_atomic(dir.path(), "a.txt", "first\n");
  bidsim::write_file_atomic(dir.path(), "a.txt", "second\n");
  std::ifstream f(dir.file("a.txt"));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(text == "second\n");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("output: prepare_output_dir creates folders and reports what it cannot", "[output]") {
  TempDir dir;
  bidsim::prepare_output_dir(dir.file("x/y/z"), false);
  CHECK(std::filesystem::is_directory(dir.file("x/y/z")));
  dir.write("plain", "not a folder");
  try {
    bidsim::prepare_output_dir(dir.file("plain/sub"), false);
    FAIL("no error");
  } catch (const bidsim::UsageError& e) {
    check_message(e.what(), {"--out", "plain/sub"});
  }
}

TEST_CASE("output: summary.json has the documented keys", "[output]") {
  TempDir dir;
  const bidsim::Scenario s = bidsim::parse_scenario(
      "market: {envs: 2, steps: 3}\nagents: {count: 4, cpa: 1}\nimpressions: {per_step: 50}\n", "t.yaml");
  bidsim::Simulator sim(s, bidsim::Device::cpu, 1);
  bidsim::BuiltinPolicies policies(s);
  const bidsim::SimulationResult r = bidsim::simulate(sim, policies);
  bidsim::write_simulation_json(dir.path(), s, sim.backend_name(), r);
  bidsim::write_steps_csv(dir.path(), r);
  std::ifstream f(dir.file("summary.json"));
  const nlohmann::json j = nlohmann::json::parse(f);
  for (const char* key : {"agents", "envs", "steps", "impressions", "social_welfare", "revenue", "seconds", "score"})
    CHECK(j.contains(key));
  CHECK(j["agents"] == 4);
  CHECK(j["envs"] == 2);
  CHECK(j["steps"] == 3);
  CHECK(j["impressions"].get<double>() == Approx(150.0));
  for (const char* key : {"value", "cost", "wins", "conversions", "score"}) {
    INFO(key);
    REQUIRE(j["per_agent"].contains(key));
    CHECK(j["per_agent"][key].size() == 4);
  }
  std::ifstream csv(dir.file("steps.csv"));
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  CHECK(lines == 4);  // header + 3 steps
}
