// Scenario parsing and validation. A small strict reader walks the YAML tree, remembering the key
// path of every node, so each error names file, key, value and what was expected, and unread keys fail.
#include "engine/facade/scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "engine/core/episode_setup.hpp"
#include "engine/facade/machine.hpp"
#include "engine/core/money.hpp"
#include "engine/core/rng.hpp"
#include "engine/facade/yaml_reader.hpp"

namespace bidsim {
namespace {

// Agent-parameter draws at load time: the `step` word carries the parameter id.
enum AgentParam : std::uint32_t { kBudgetParam = 1, kCpaParam = 2, kScaleParam = 3 };

// A per-agent parameter: a scalar, a list of N values, or {uniform: [lo, hi]} drawn per agent.
std::vector<double> per_agent(YamlReader& r, const std::string& key, int N, std::uint64_t seed,
                              AgentParam param, double fallback, double lo, double hi, bool allow_inf) {
  std::vector<double> out(N, fallback);
  if (!r.has(key)) { r.raw(key); return out; }
  const YAML::Node n = r.raw(key);
  const std::string p = r.path(key);
  if (n.IsScalar()) {
    std::fill(out.begin(), out.end(), r.number_of(n, p, lo, hi, allow_inf));
  } else if (n.IsSequence()) {
    if (static_cast<int>(n.size()) != N)
      r.fail_value(p, YAML::Node(std::to_string(n.size()) + " values"), std::to_string(N) + " values (one per agent)");
    for (int i = 0; i < N; ++i) out[i] = r.number_of(n[i], p + "[" + std::to_string(i) + "]", lo, hi, allow_inf);
  } else {
    YamlReader m(n, p, r.source());
    const YAML::Node u = m.raw("uniform");
    if (!u.IsSequence() || u.size() != 2) m.fail_value(m.path("uniform"), u, "[low, high]");
    const double a = m.number_of(u[0], m.path("uniform") + "[0]", lo, hi);
    const double b = m.number_of(u[1], m.path("uniform") + "[1]", a, hi);
    m.finish();
    for (int i = 0; i < N; ++i)
      out[i] = a + (b - a) * uniform01_double(draw(seed, Purpose::agent_setup, 0, param, 0, i)[0]);
  }
  return out;
}

// Which agents a policy drives: all | [i, ...] | {range: [begin, end)} | {category: c}.
std::vector<int> agent_selector(YamlReader& r, const std::string& key, const AgentsConfig& agents) {
  const int N = agents.count;
  std::vector<int> out;
  if (!r.has(key)) {
    r.raw(key);
    for (int i = 0; i < N; ++i) out.push_back(i);
    return out;
  }
  const YAML::Node n = r.raw(key);
  const std::string p = r.path(key);
  if (n.IsScalar()) {
    if (n.Scalar() != "all") r.fail_value(p, n, "all, a list of agent indices, {range: [begin, end]} or {category: c}");
    for (int i = 0; i < N; ++i) out.push_back(i);
  } else if (n.IsSequence()) {
    for (std::size_t k = 0; k < n.size(); ++k)
      out.push_back(static_cast<int>(r.integer_of(n[k], p + "[" + std::to_string(k) + "]", 0, N - 1)));
  } else {
    YamlReader m(n, p, r.source());
    if (m.has("range")) {
      const YAML::Node range = m.raw("range");
      if (!range.IsSequence() || range.size() != 2) m.fail_value(m.path("range"), range, "[begin, end) agent indices");
      const long long b = m.integer_of(range[0], m.path("range") + "[0]", 0, N - 1);
      const long long e = m.integer_of(range[1], m.path("range") + "[1]", b + 1, N);
      for (long long i = b; i < e; ++i) out.push_back(static_cast<int>(i));
    } else if (m.has("category")) {
      const long long c = m.integer("category", 0, 0, agents.categories - 1);
      for (int i = 0; i < N; ++i)
        if (agents.category[i] == c) out.push_back(i);
    } else {
      m.fail_value(p, n, "all, a list of agent indices, {range: [begin, end]} or {category: c}");
    }
    m.finish();
  }
  return out;
}

void parse_agents(YamlReader& root, Scenario& s) {
  YamlReader r = root.map("agents");
  AgentsConfig& a = s.agents;
  a.count = static_cast<int>(r.integer("count", 10, 1, 16'000'000));
  const int N = a.count;
  a.categories = static_cast<int>(r.integer("categories", 1, 1, N));
  if (r.has("category")) {
    const YAML::Node n = r.raw("category");
    if (!n.IsSequence() || static_cast<int>(n.size()) != N)
      r.fail_value(r.path("category"), n, std::to_string(N) + " category indices (one per agent)");
    for (int i = 0; i < N; ++i)
      a.category.push_back(static_cast<int>(r.integer_of(n[i], r.path("category") + "[" + std::to_string(i) + "]", 0, a.categories - 1)));
  } else {
    r.raw("category");
    for (int i = 0; i < N; ++i)
      a.category.push_back(static_cast<int>(static_cast<long long>(i) * a.categories / N));
  }
  const double inf = std::numeric_limits<double>::infinity();
  a.budget = per_agent(r, "budget", N, s.seed, kBudgetParam, 1000.0, 0.0, inf, true);
  if (r.has("cpa")) a.cpa = per_agent(r, "cpa", N, s.seed, kCpaParam, 1.0, 1e-12, 1e12, false);
  else r.raw("cpa");
  a.value_scale = per_agent(r, "value_scale", N, s.seed, kScaleParam, 1.0, 0.0, 1e12, false);
  r.finish();
}

void parse_impressions(YamlReader& root, Scenario& s) {
  YamlReader r = root.map("impressions");
  ImpressionsConfig& imp = s.impressions;
  const bool profiled = r.has("profile");
  if (profiled && r.has("per_step")) r.fail("per_step", "give either per_step or total + profile, not both");
  imp.per_step = static_cast<int>(r.integer("per_step", 1000, 0, 1'000'000'000));
  if (profiled) {
    imp.profile = r.number_list("profile", 0.0, 1e12);
    if (static_cast<int>(imp.profile.size()) != s.market.steps)
      r.fail_value(r.path("profile"), YAML::Node(std::to_string(imp.profile.size()) + " shares"),
                   std::to_string(s.market.steps) + " shares (one per step, market.steps)");
    double sum = 0;
    for (double x : imp.profile) sum += x;
    if (!(sum > 0)) r.fail("profile", "shares sum to 0, expected a positive sum");
    if (!r.has("total")) r.fail("total", "missing, expected the impressions per episode that profile splits");
    imp.total = r.number("total", 0, 1, 1e12);
    YamlReader j = r.map("jitter");
    imp.jitter.window = static_cast<int>(j.integer("window", 0, 0, s.market.steps));
    imp.jitter.low = j.number("low", 1.0, 1e-9, 1e9);
    imp.jitter.high = j.number("high", imp.jitter.low, imp.jitter.low, 1e9);
    j.finish();
  } else {
    for (const char* k : {"total", "jitter"})
      if (r.has(k)) r.fail(k, "only used together with profile");
    r.raw("total");
    r.raw("jitter");
  }
  r.finish();
}

void parse_values(YamlReader& root, Scenario& s, const std::string& base_dir) {
  YamlReader r = root.map("values");
  ValuesConfig& v = s.values;
  v.model = static_cast<ValueModel>(r.choice("model", {"procedural", "auctionnet", "file"}));
  const bool procedural = v.model == ValueModel::procedural;
  for (const char* k : {"distribution", "sigma", "cross_category"})
    if (!procedural && r.has(k)) r.fail(k, std::string("only used with model: procedural (model is ") + to_string(v.model) + ")");
  v.procedural.distribution =
      static_cast<ProceduralDistribution>(r.choice("distribution", {"lognormal", "uniform", "exponential"}));
  v.procedural.sigma = r.number("sigma", 0.5, 0.0, 10.0);
  v.procedural.cross_category = r.number("cross_category", 1.0, 0.0, 1e6);
  if (v.model != ValueModel::auctionnet && r.has("auctionnet"))
    r.fail("auctionnet", "only used with model: auctionnet");
  YamlReader an = r.map("auctionnet");
  AuctionNetValues& p = v.auctionnet;
  p.base_mean = an.number("base_mean", p.base_mean, 0.0, 1.0);
  p.window = static_cast<int>(an.integer("window", p.window, 1, 1 << 20));
  p.category_low = an.number("category_low", p.category_low, 0.0, 1e6);
  p.category_high = an.number("category_high", p.category_high, p.category_low, 1e6);
  p.agent_low = an.number("agent_low", p.agent_low, 0.0, 1e6);
  p.agent_high = an.number("agent_high", p.agent_high, p.agent_low, 1e6);
  p.std_level_mean = an.number("std_level_mean", p.std_level_mean, 0.0, 1.0);
  p.std_level_sd = an.number("std_level_sd", p.std_level_sd, 0.0, 1e3);
  p.std_tick_rel_sd = an.number("std_tick_rel_sd", p.std_tick_rel_sd, 0.0, 1e3);
  p.sigma_ratio_mean = an.number("sigma_ratio_mean", p.sigma_ratio_mean, 0.0, 1e3);
  p.sigma_ratio_sd = an.number("sigma_ratio_sd", p.sigma_ratio_sd, 0.0, 1e3);
  p.sigma_ratio_cap = an.number("sigma_ratio_cap", p.sigma_ratio_cap, 0.0, 1e3);
  p.sigma_ratio_replacement = an.number("sigma_ratio_replacement", p.sigma_ratio_replacement, 0.0, 1e3);
  an.finish();
  if (v.model == ValueModel::file) {
    if (!r.has("file")) r.fail("file", "missing, expected a CSV path (step,impression,agent,value) for model: file");
    std::string path = r.text("file", "");
    if (!path.empty() && path.front() != '/') path = base_dir + "/" + path;
    v.file.path = path;
  } else if (r.has("file")) {
    r.fail("file", "only used with model: file");
  } else {
    r.raw("file");
  }
  r.finish();
}

void parse_policies(YamlReader& root, Scenario& s) {
  const int N = s.agents.count;
  if (!root.has("policies")) {
    root.raw("policies");
    PolicyConfig truthful;
    truthful.name = "truthful";
    truthful.kind = PolicyKind::truthful;
    for (int i = 0; i < N; ++i) truthful.agents.push_back(i);
    s.policies.push_back(truthful);
    return;
  }
  const YAML::Node list = root.raw("policies");
  if (!list.IsSequence() || list.size() == 0) root.fail_value("policies", list, "a non-empty list of policies");
  std::vector<int> owner(N, -1);
  for (std::size_t k = 0; k < list.size(); ++k) {
    YamlReader r(list[k], "policies[" + std::to_string(k) + "]", root.source());
    PolicyConfig p;
    p.kind = static_cast<PolicyKind>(r.choice("type", {"truthful", "constant", "pid", "cpa"}));
    p.name = r.text("name", std::string(to_string(p.kind)) + (list.size() > 1 ? "#" + std::to_string(k) : ""));
    for (const auto& other : s.policies)
      if (other.name == p.name) r.fail("name", "'" + printable_line(p.name) + "' is used by two policies, expected unique names");
    p.agents = agent_selector(r, "agents", s.agents);
    for (int i : p.agents) {
      if (owner[i] == static_cast<int>(k))  // (this policy is not in s.policies yet: name it here)
        r.fail("agents", "agent " + std::to_string(i) + " is listed twice, expected each agent once");
      if (owner[i] >= 0)
        r.fail("agents", "agent " + std::to_string(i) + " is already driven by policy '" + printable_line(s.policies[owner[i]].name) + "'");
      owner[i] = static_cast<int>(k);
    }
    const bool constant = p.kind == PolicyKind::constant, pid = p.kind == PolicyKind::pid,
               cpa = p.kind == PolicyKind::cpa;
    if (!constant && r.has("multiplier")) r.fail("multiplier", "only used with type: constant");
    if (constant) {
      if (!r.has("multiplier")) r.fail("multiplier", "missing, expected a number or one per selected agent");
      const YAML::Node m = r.raw("multiplier");
      // NaN marks agents without a multiplier (a per-agent list covers only the selected agents).
      p.multiplier.assign(N, std::numeric_limits<double>::quiet_NaN());
      if (m.IsSequence()) {
        if (m.size() != p.agents.size())
          r.fail_value(r.path("multiplier"), YAML::Node(std::to_string(m.size()) + " values"),
                       std::to_string(p.agents.size()) + " values (one per selected agent)");
        for (std::size_t q = 0; q < p.agents.size(); ++q)
          p.multiplier[p.agents[q]] = r.number_of(m[q], r.path("multiplier") + "[" + std::to_string(q) + "]", 0.0, 1e12);
      } else {
        const double x = r.number_of(m, r.path("multiplier"), 0.0, 1e12);
        std::fill(p.multiplier.begin(), p.multiplier.end(), x);  // also for agents deviating to it
      }
    } else {
      r.raw("multiplier");
    }
    for (const char* key : {"initial", "kp", "ki", "kd", "min", "max"})
      if (!pid && r.has(key)) r.fail(key, "only used with type: pid");
    p.pid.initial = r.number("initial", p.pid.initial, 1e-12, 1e12);
    p.pid.kp = r.number("kp", p.pid.kp, -1e6, 1e6);
    p.pid.ki = r.number("ki", p.pid.ki, -1e6, 1e6);
    p.pid.kd = r.number("kd", p.pid.kd, -1e6, 1e6);
    p.pid.min_multiplier = r.number("min", p.pid.min_multiplier, 0.0, 1e12);
    p.pid.max_multiplier = r.number("max", p.pid.max_multiplier, p.pid.min_multiplier, 1e12);
    if (!cpa && r.has("factor")) r.fail("factor", "only used with type: cpa");
    p.cpa_factor = r.number("factor", 1.0, 0.0, 1e12);
    if (cpa && s.agents.cpa.empty()) r.fail("type", "cpa needs agents.cpa (a CPA target per agent)");
    r.finish();
    s.policies.push_back(p);
  }
  for (int i = 0; i < N; ++i)
    if (owner[i] < 0)
      root.fail("policies", "agent " + std::to_string(i) + " has no policy, expected every agent in exactly one policy's agents");
}

void parse_deviations(YamlReader& root, Scenario& s) {
  if (!root.has("deviations")) { root.raw("deviations"); return; }
  const YAML::Node list = root.raw("deviations");
  if (!list.IsSequence()) root.fail_value("deviations", list, "a list of {env, agent, policy}");
  for (std::size_t k = 0; k < list.size(); ++k) {
    YamlReader r(list[k], "deviations[" + std::to_string(k) + "]", root.source());
    Deviation d;
    d.env = static_cast<int>(r.integer("env", 0, 0, s.market.envs - 1));
    d.agent = static_cast<int>(r.integer("agent", 0, 0, s.agents.count - 1));
    const std::string name = r.text("policy", "");
    d.policy = -1;
    for (std::size_t q = 0; q < s.policies.size(); ++q)
      if (s.policies[q].name == name) d.policy = static_cast<int>(q);
    if (d.policy < 0) {
      std::string names;
      for (const auto& p : s.policies) names += (names.empty() ? "" : " | ") + printable_line(p.name);
      r.fail_value(r.path("policy"), r.raw("policy"), "the name of a policy in policies: " + names);
    }
    const PolicyConfig& target = s.policies[d.policy];
    if (target.kind == PolicyKind::constant && std::isnan(target.multiplier[d.agent]))
      r.fail("policy", "'" + printable_line(target.name) + "' lists one multiplier per selected agent and agent " +
             std::to_string(d.agent) + " is not among them, expected a constant policy with a scalar multiplier");
    r.finish();
    s.deviations.push_back(d);
  }
}

// Rough host bytes a run needs: state, AuctionNet parameters and per-thread scratch.
double host_bytes(const Scenario& s, long long max_impressions, int candidates) {
  const double EN = double(s.market.envs) * s.agents.count;
  double bytes = EN * (8 * 14 + 4 * 20 + 4 * 12);
  if (s.values.model == ValueModel::auctionnet) bytes += EN * s.market.steps * 8;
  const double per_thread = double(max_impressions) * (s.mechanism.slots * 24 + 12) +
                            double(max_impressions) * candidates / 8.0;
  return bytes + per_thread * 4;
}

Scenario parse_root(const YAML::Node& root, const std::string& source, const std::string& base_dir) {
  Scenario s;
  s.source = source;
  YamlReader r(root, "", source);
  s.name = r.text("name", "unnamed");
  s.seed = static_cast<std::uint64_t>(r.integer("seed", 1, 0, std::numeric_limits<long long>::max()));
  {
    YamlReader m = r.map("market");
    s.market.envs = static_cast<int>(m.integer("envs", 1, 1, 1 << 20));
    s.market.steps = static_cast<int>(m.integer("steps", 24, 1, 1 << 20));
    m.finish();
  }
  parse_agents(r, s);
  parse_impressions(r, s);
  parse_values(r, s, base_dir);
  {
    YamlReader c = r.map("candidates");
    s.candidates.mode = static_cast<CandidateMode>(c.choice("mode", {"dense", "sparse"}));
    const bool sparse = s.candidates.mode == CandidateMode::sparse;
    if (!sparse && (c.has("per_impression") || c.has("within_category")))
      c.fail(c.has("per_impression") ? "per_impression" : "within_category", "only used with mode: sparse");
    if (sparse && !c.has("per_impression")) c.fail("per_impression", "missing, expected K candidates per impression for mode: sparse");
    s.candidates.per_impression = static_cast<int>(c.integer("per_impression", 0, 1, s.agents.count));
    s.candidates.within_category = c.boolean("within_category", false);
    if (sparse && s.candidates.within_category) {
      std::vector<int> size(s.agents.categories, 0);
      for (int cat : s.agents.category) ++size[cat];
      const int smallest = *std::min_element(size.begin(), size.end());
      if (s.candidates.per_impression > smallest)
        c.fail("per_impression", std::to_string(s.candidates.per_impression) +
               " candidates within category, but the smallest category has " + std::to_string(smallest) + " agents");
    }
    if (sparse && s.values.model == ValueModel::file) c.fail("mode", "sparse candidates do not apply to model: file (the file's rows are the candidates)");
    c.finish();
  }
  {
    YamlReader m = r.map("mechanism");
    MechanismConfig& mc = s.mechanism;
    mc.kind = static_cast<MechanismKind>(m.choice("type", {"second_price", "gsp"}));
    const long long default_slots = mc.kind == MechanismKind::gsp ? 3 : 1;
    mc.slots = static_cast<int>(m.integer("slots", default_slots, 1, kMaxSlots));
    if (mc.kind == MechanismKind::second_price && mc.slots != 1)
      m.fail_value(m.path("slots"), m.raw("slots"), "1 for type: second_price (use type: gsp for several slots)");
    if (m.has("exposure")) {
      mc.exposure = m.number_list("exposure", 0.0, 1.0);
      if (static_cast<int>(mc.exposure.size()) != mc.slots)
        m.fail_value(m.path("exposure"), m.raw("exposure"), std::to_string(mc.slots) + " probabilities (one per slot)");
    } else {
      m.raw("exposure");
      mc.exposure.assign(mc.slots, 1.0);
    }
    mc.exposure_cascade = m.boolean("exposure_cascade", false);
    mc.reserve = m.number("reserve", 0.0, 0.0, 1e12);
    mc.charge_on_exposure = m.choice("charge", {"on_win", "on_exposure"}) == 1;
    mc.unsold_at_reserve = m.boolean("unsold_at_reserve", false);
    mc.frozen_noise = m.boolean("frozen_noise", false);
    m.finish();
  }
  {
    YamlReader b = r.map("budget");
    s.budget.floor = b.number("floor", 0.0, 0.0, 1e12);
    s.budget.overspend = static_cast<OverspendRule>(b.choice("overspend", {"auctionnet", "truncate"}));
    s.budget.max_passes = static_cast<int>(b.integer("max_passes", 64, 1, 255));
    b.finish();
  }
  s.reward = static_cast<RewardKind>(r.choice("reward", {"value", "utility", "conversions"}));
  parse_policies(r, s);
  parse_deviations(r, s);
  r.raw("learning");  // hyper-parameters of bidsim train / evaluate, validated strictly by rl/learning_config
  r.finish();

  if (s.values.model == ValueModel::file) {
    load_value_file(s.values.file.path, s.market.steps, s.agents.count, s.values.file);
    if (r.has("impressions")) r.fail("impressions", "not used with model: file (the file gives the impressions)");
  }
  const int candidates = candidates_per_impression(s);
  if (s.mechanism.slots > candidates && s.values.model != ValueModel::file)
    r.fail("mechanism.slots", std::to_string(s.mechanism.slots) + " slots but only " + std::to_string(candidates) +
           " candidates per impression, expected slots <= candidates");
  const long long max_impressions = max_impressions_per_step(s);
  if (max_impressions > (1LL << 31) - 1)
    r.fail("impressions", "up to " + std::to_string(max_impressions) + " impressions in one step, expected fewer than 2^31");
  if (static_cast<double>(s.market.envs) * 64.0 >= double(1u << 24))
    r.fail("market.envs", "too many environments for the 24-bit environment counter of the random draws");
  const double bytes = host_bytes(s, max_impressions, candidates);
  const double available = static_cast<double>(machine_available_memory_bytes());
  if (available > 0 && bytes > available) {
    char sizes[128];
    std::snprintf(sizes, sizeof sizes, "needs about %.1f GiB of host memory, this machine has %.1f GiB available",
                  bytes / double(1ull << 30), available / double(1ull << 30));
    r.fail("market", std::string(sizes) + " (reduce market.envs, agents.count or impressions)");
  }
  check_money_range(s);
  return s;
}

}  // namespace

Scenario parse_scenario(const std::string& text, const std::string& source,
                        const std::vector<std::string>& overrides, const std::string& base_dir) {
  return parse_root(load_yaml_text(text, source, overrides), source, base_dir);
}

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return parse_root(load_yaml_file(path, overrides), path, dir);
}

void load_value_file(const std::string& path, int steps, int agents, FileValues& out) {
  std::ifstream in(path);
  if (!in) throw ScenarioError(path + ": cannot open value file (values.file)");
  std::string line;
  if (!std::getline(in, line)) throw ScenarioError(path + ":1: empty file, expected header step,impression,agent,value");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line != "step,impression,agent,value")
    throw ScenarioError(path + ":1: header '" + line + "', expected step,impression,agent,value");
  struct Row { std::int64_t step, impression, agent; float value; };
  std::vector<Row> rows;
  long long number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    std::stringstream ss(line);
    std::string field[4];
    int count = 0;
    while (count < 5 && std::getline(ss, field[count < 4 ? count : 3], ',')) ++count;
    if (count != 4) throw ScenarioError(where + "'" + printable_line(line) + "', expected 4 comma-separated fields");
    long long ints[3];
    for (int k = 0; k < 3; ++k) {
      char* end = nullptr;
      ints[k] = std::strtoll(field[k].c_str(), &end, 10);
      if (field[k].empty() || *end != '\0') throw ScenarioError(where + "'" + printable_line(field[k]) + "' is not an integer");
    }
    char* end = nullptr;
    const double value = std::strtod(field[3].c_str(), &end);
    // Values are stored as float: a number beyond its range would become inf in every result.
    if (field[3].empty() || *end != '\0' || !(value >= 0 && value <= std::numeric_limits<float>::max()))
      throw ScenarioError(where + "value '" + printable_line(field[3]) + "', expected a finite number in [0, 3.4e38] (stored as float)");
    if (ints[0] < 0 || ints[0] >= steps)
      throw ScenarioError(where + "step " + std::to_string(ints[0]) + ", expected 0.." + std::to_string(steps - 1) + " (market.steps)");
    if (ints[1] < 0 || ints[1] >= (1LL << 31) - 1)
      throw ScenarioError(where + "impression " + std::to_string(ints[1]) + ", expected an index >= 0");
    if (ints[2] < 0 || ints[2] >= agents)
      throw ScenarioError(where + "agent " + std::to_string(ints[2]) + ", expected 0.." + std::to_string(agents - 1) + " (agents.count)");
    rows.push_back({ints[0], ints[1], ints[2], static_cast<float>(value)});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.step, a.impression, a.agent) < std::tie(b.step, b.impression, b.agent);
  });
  for (std::size_t k = 1; k < rows.size(); ++k)
    if (rows[k].step == rows[k - 1].step && rows[k].impression == rows[k - 1].impression && rows[k].agent == rows[k - 1].agent)
      throw ScenarioError(path + ": duplicate row for step " + std::to_string(rows[k].step) + ", impression " +
                          std::to_string(rows[k].impression) + ", agent " + std::to_string(rows[k].agent));
  out.impressions.assign(steps, 0);
  for (const Row& row : rows) out.impressions[row.step] = static_cast<int>(std::max<std::int64_t>(out.impressions[row.step], row.impression + 1));
  out.step_offset.assign(steps + 1, 0);
  for (int t = 0; t < steps; ++t) out.step_offset[t + 1] = out.step_offset[t] + out.impressions[t];
  out.row_offset.assign(out.step_offset[steps] + 1, 0);
  for (const Row& row : rows) ++out.row_offset[out.step_offset[row.step] + row.impression + 1];
  for (std::size_t k = 1; k < out.row_offset.size(); ++k) {
    out.max_candidates = std::max<int>(out.max_candidates, static_cast<int>(out.row_offset[k]));
    out.row_offset[k] += out.row_offset[k - 1];
  }
  out.agent.clear();
  out.value.clear();
  for (const Row& row : rows) {
    out.agent.push_back(static_cast<std::int32_t>(row.agent));
    out.value.push_back(row.value);
  }
}

const char* to_string(ValueModel v) {
  switch (v) { case ValueModel::procedural: return "procedural"; case ValueModel::auctionnet: return "auctionnet"; default: return "file"; }
}
const char* to_string(CandidateMode v) { return v == CandidateMode::dense ? "dense" : "sparse"; }
const char* to_string(MechanismKind v) { return v == MechanismKind::gsp ? "gsp" : "second_price"; }
const char* to_string(OverspendRule v) { return v == OverspendRule::auctionnet ? "auctionnet" : "truncate"; }
const char* to_string(RewardKind v) {
  switch (v) { case RewardKind::value: return "value"; case RewardKind::utility: return "utility"; default: return "conversions"; }
}
const char* to_string(PolicyKind v) {
  switch (v) { case PolicyKind::constant: return "constant"; case PolicyKind::truthful: return "truthful"; case PolicyKind::pid: return "pid"; default: return "cpa"; }
}

}  // namespace bidsim
