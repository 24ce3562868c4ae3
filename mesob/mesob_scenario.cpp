// Parses and validates mesob scenario YAML with the shared strict reader: unknown keys, wrong types,
// out-of-range values and inconsistent sizes are one-line ScenarioErrors. Keys: scenarios/README.md.
#include "mesob/mesob_scenario.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/facade/yaml_reader.hpp"

namespace bidsim::mesob {

namespace {

// A grid: a list of numbers, or {linspace: [first, last, count]} (equally spaced, both ends included).
std::vector<double> grid(YamlReader& r, const std::string& key, double lo, double hi) {
  if (!r.has(key)) r.fail(key, "missing, expected a list of numbers or {linspace: [first, last, count]}");
  const YAML::Node n = r.raw(key);
  if (n.IsSequence()) {
    if (n.size() == 0) r.fail_value(r.path(key), n, "a non-empty list");
    return r.number_list(key, lo, hi);
  }
  YamlReader m(n, r.path(key), r.source());
  const YAML::Node spec = m.raw("linspace");
  if (!spec.IsSequence() || spec.size() != 3)
    r.fail_value(r.path(key), n, "a list of numbers or {linspace: [first, last, count]}");
  const double first = m.number_of(spec[0], m.path("linspace") + "[0]", lo, hi);
  const double last = m.number_of(spec[1], m.path("linspace") + "[1]", first, hi);
  const long long count = m.integer_of(spec[2], m.path("linspace") + "[2]", 1, 100000);
  m.finish();
  std::vector<double> out;
  for (long long i = 0; i < count; ++i)
    out.push_back(count == 1 ? first : first + (last - first) * static_cast<double>(i) / (count - 1));
  return out;
}

void require_increasing(YamlReader& r, const std::string& key, const std::vector<double>& v) {
  for (std::size_t i = 1; i < v.size(); ++i)
    if (!(v[i] > v[i - 1]))
      r.fail(key, "got " + YamlReader::num(v[i]) + " after " + YamlReader::num(v[i - 1]) +
                      ", expected strictly increasing levels");
}

// μ0 over CTR levels: uniform | [weights] | {truncated_normal: [mean, variance]} (density at each level).
std::vector<double> ctr_distribution(YamlReader& r, const std::vector<double>& ctr, std::string& note) {
  const std::string key = "ctr_distribution";
  if (!r.has(key)) {
    r.raw(key);
    note = "uniform (the paper does not state mu0)";
    return std::vector<double>(ctr.size(), 1.0 / ctr.size());
  }
  const YAML::Node n = r.raw(key);
  const std::string expected = "uniform, a list of positive weights (one per CTR level) or {truncated_normal: [mean, variance]}";
  std::vector<double> w;
  if (n.IsScalar()) {
    if (n.Scalar() != "uniform") r.fail_value(r.path(key), n, expected);
    note = "uniform";
    w.assign(ctr.size(), 1.0);
  } else if (n.IsSequence()) {
    if (n.size() != ctr.size())
      r.fail_value(r.path(key), n, "one weight per CTR level (" + std::to_string(ctr.size()) + ")");
    for (std::size_t k = 0; k < n.size(); ++k)
      w.push_back(r.number_of(n[k], r.path(key) + "[" + std::to_string(k) + "]", 1e-300, 1e300));
    note = "given weights";
  } else {
    YamlReader m(n, r.path(key), r.source());
    const YAML::Node spec = m.raw("truncated_normal");
    if (!spec.IsSequence() || spec.size() != 2) r.fail_value(r.path(key), n, expected);
    const double mean = m.number_of(spec[0], m.path("truncated_normal") + "[0]", -1e6, 1e6);
    const double var = m.number_of(spec[1], m.path("truncated_normal") + "[1]", 1e-12, 1e12);
    m.finish();
    for (double c : ctr) w.push_back(std::exp(-(c - mean) * (c - mean) / (2 * var)));
    note = "truncated normal N(" + YamlReader::num(mean) + ", " + YamlReader::num(var) + ") on the CTR grid";
  }
  double total = 0;
  for (double x : w) total += x;
  for (double x : w)
    if (!(x / total > 0)) r.fail(key, "gives a CTR level zero mass, expected μ0 > 0 everywhere (paper §2.1)");
  for (double& x : w) x /= total;
  return w;
}

void parse_game(YamlReader& root, MesobScenario& sc) {
  YamlReader r = root.map("game");
  AuctionGameConfig& g = sc.game;
  g.ctr = grid(r, "ctr", 1e-9, 1.0);
  require_increasing(r, "ctr", g.ctr);
  g.ctr_distribution = ctr_distribution(r, g.ctr, sc.mu0_note);
  g.bids = grid(r, "bids", 0.0, 1e9);
  require_increasing(r, "bids", g.bids);
  g.bidders = static_cast<int>(r.integer("bidders", 5, 2, kMaxBidders));
  g.horizon = static_cast<int>(r.integer("horizon", 9, 0, 100000));
  if (r.has("types") && r.has("value")) r.fail("value", "give either value (one bidder type) or types, not both");
  if (r.has("types")) {
    r.raw("value");
    const YAML::Node list = r.raw("types");
    if (!list.IsSequence() || list.size() == 0) r.fail_value(r.path("types"), list, "a non-empty list of {name, value, share}");
    for (std::size_t k = 0; k < list.size(); ++k) {
      YamlReader t(list[k], r.path("types") + "[" + std::to_string(k) + "]", r.source());
      BidderType type;
      type.name = t.text("name", "type" + std::to_string(k));
      type.value = t.number("value", 2.0, 0.0, 1e9);
      type.share = t.number("share", 1.0, 1e-12, 1e12);
      t.finish();
      g.types.push_back(type);
    }
  } else {
    r.raw("types");
    g.types.push_back({"all", r.number("value", 2.0, 0.0, 1e9), 1.0});
  }
  r.finish();
  const double S = double(g.ctr.size()) * g.types.size(), A = double(g.bids.size());
  if (S * A * S * std::max(1, g.horizon) > 5e7)
    root.fail("game", "has " + YamlReader::num(S) + " states x " + YamlReader::num(A) + " bids x horizon " +
                          std::to_string(g.horizon) + ", expected (S·A)·S·T ≤ 5e7 (the transition tables)");
}

void parse_welfare(YamlReader& root, MesobScenario& sc) {
  YamlReader r = root.map("welfare");
  WelfareParams& w = sc.game.welfare;
  if (r.has("coefficients")) {
    const std::vector<double> c = r.number_list("coefficients", 0.0, 1e6);
    if (c.size() != 3) r.fail("coefficients", "got " + std::to_string(c.size()) + " numbers, expected 3 (c1, c2, c3 of eq. 7)");
    w.c1 = c[0]; w.c2 = c[1]; w.c3 = c[2];
  } else {
    r.raw("coefficients");
  }
  if (r.has("epsilon")) {
    const std::vector<double> e = r.number_list("epsilon", 1e-300, 1e6);
    if (e.size() != 4) r.fail("epsilon", "got " + std::to_string(e.size()) + " numbers, expected 4 (ε0, ε1, ε2, ε3 of eq. 7)");
    w.eps0 = e[0]; w.eps1 = e[1]; w.eps2 = e[2]; w.eps3 = e[3];
  } else {
    r.raw("epsilon");
  }
  r.finish();
}

void parse_solver(YamlReader& root, MesobScenario& sc) {
  YamlReader r = root.map("solver");
  SolverConfig& c = sc.solver;
  const std::vector<std::string> names{"mesob-omo", "mf-omo", "mfc", "omd", "fp", "heuristic"};
  c.kind = static_cast<SolverKind>(r.choice("method", names));
  c.weights.lambda1 = r.number("lambda1", 0.5, 0.0, 1e6);
  c.weights.lambda2 = r.number("lambda2", 0.5, 0.0, 1e6);
  c.weights.rho1 = r.number("rho1", 1.0, 0.0, 1e9);
  c.weights.rho2 = r.number("rho2", 0.1, 0.0, 1e9);
  // Missing: armijo, the rule that converges (choice() would default to the first name).
  c.optimizer = r.has("optimizer")
                    ? static_cast<OptimizerKind>(r.choice("optimizer", {"adam", "gradient", "armijo", "mirror"}))
                    : OptimizerKind::armijo;
  c.lr = r.number("lr", 0.01, 1e-12, 1e6);
  c.exact_consistency = r.choice("consistency", {"exact", "penalty"}) == 0;
  c.tol = r.number("tol", 0.0, 0.0, 1e6);
  // Missing: the solver's default (multipliers for mf-omo, the penalty form otherwise).
  c.multiplier_every = r.has("multiplier_every") ? static_cast<int>(r.integer("multiplier_every", 0, 0, 100'000'000)) : -1;
  c.iterations = static_cast<int>(r.integer("iterations", 1500, 0, 100'000'000));
  c.record_every = static_cast<int>(r.integer("record_every", 10, 0, 100'000'000));
  r.finish();
  YamlReader h = root.map("heuristic");
  c.heuristic.eta = h.number("eta", 0.7, 0.0, 1.0);
  c.heuristic.auctions = static_cast<int>(h.integer("auctions", 10, 1, 1'000'000));
  c.heuristic.rounds = static_cast<int>(h.integer("rounds", 1000, 1, 10'000'000));
  c.heuristic.runs = static_cast<int>(h.integer("runs", 100, 1, 1'000'000));
  if (h.has("initial")) {
    YamlReader init = h.map("initial");
    c.heuristic.initial_mean = init.number("mean", 1.5, -1e9, 1e9);
    c.heuristic.initial_variance = init.number("variance", 1.44, 0.0, 1e12);
    init.finish();
  } else {
    h.raw("initial");
  }
  h.finish();
}

void parse_pareto(YamlReader& root, MesobScenario& sc) {
  YamlReader r = root.map("pareto");
  const std::vector<double> fallback{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  sc.pareto_lambda1 = r.has("lambda1") ? grid(r, "lambda1", 0.0, 1e6) : (r.raw("lambda1"), fallback);
  sc.pareto_lambda2 = r.has("lambda2") ? grid(r, "lambda2", 0.0, 1e6) : (r.raw("lambda2"), fallback);
  r.finish();
  bool any = false;
  for (double a : sc.pareto_lambda1)
    for (double b : sc.pareto_lambda2) any |= (a > 0 || b > 0);
  if (!any) root.fail("pareto", "has only λ1 = λ2 = 0, expected at least one positive weight");
}

void parse_bridge(YamlReader& root, MesobScenario& sc) {
  YamlReader r = root.map("bridge");
  sc.bridge.agents = static_cast<int>(r.integer("agents", 10000, sc.game.bidders, 16'000'000));
  sc.bridge.impressions = static_cast<int>(r.integer("impressions", 20000, 1, 100'000'000));
  sc.bridge.envs = static_cast<int>(r.integer("envs", 2, 1, 4096));
  r.finish();
}

MesobScenario parse_root(const YAML::Node& root, const std::string& source) {
  MesobScenario sc;
  sc.source = source;
  YamlReader r(root, "", source);
  sc.name = r.text("name", "unnamed");
  sc.seed = static_cast<std::uint64_t>(r.integer("seed", 1, 0, std::numeric_limits<long long>::max()));
  parse_game(r, sc);
  parse_welfare(r, sc);
  parse_solver(r, sc);
  parse_pareto(r, sc);
  parse_bridge(r, sc);
  r.finish();
  sc.solver.seed = sc.seed;
  return sc;
}

}  // namespace

MesobScenario parse_mesob_scenario(const std::string& text, const std::string& source,
                                   const std::vector<std::string>& overrides) {
  return parse_root(load_yaml_text(text, source, overrides), source);
}

MesobScenario load_mesob_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_root(load_yaml_file(path, overrides), path);
}

}  // namespace bidsim::mesob
