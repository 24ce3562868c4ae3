// `bidsim mesob` (one solver run: policy, exploitability, welfare, history; optional bridge to the
// N-agent engine) and `bidsim mesob-pareto` (a λ grid solved as one batch, the front and its plots).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/errors.hpp"
#include "engine/facade/yaml_reader.hpp"
#include "engine/facade/simulator.hpp"
#include "mesob/bridge.hpp"
#include "mesob/mesob_scenario.hpp"
#include "mesob/solvers.hpp"
#include "tools/commands.hpp"
#include "tools/output.hpp"
#include "tools/progress.hpp"
#include "tools/svg_plot.hpp"

namespace bidsim {

namespace {

using mesob::AuctionGame;
using mesob::MesobScenario;
using mesob::SolveResult;
using mesob::SolverConfig;
using nlohmann::json;

// Flags that override the scenario's solver section; NaN / -1 / empty mean "not given" (a NaN typed on
// the command line never gets here: finite_number refuses it).
struct MesobOptions {
  CommonOptions common;
  std::string solver;
  double lambda1 = NAN, lambda2 = NAN, rho1 = NAN, rho2 = NAN, lr = NAN, tol = NAN, budget = NAN;
  long long iterations = -1, multiplier_every = -1;
  std::string optimizer, consistency;
  bool bridge = false;
  std::vector<double> grid1, grid2;  // mesob-pareto
  std::string method = "lambda";     // mesob-pareto: lambda (the paper's grid) or frontier
  int budgets = 0;                   // mesob-pareto --method frontier: exploitability budgets
};

// A finite number in [lo, hi] (or (lo, hi] when `open_low`): refuses nan and inf, which CLI11's range
// checks let through (NaN compares false with everything).
CLI::Validator finite_number(double lo, double hi, bool open_low = false) {
  std::ostringstream what;
  what << "a finite number " << (open_low ? "> " : ">= ") << lo;
  if (hi < 1e300) what << " and <= " << hi;
  const std::string expected = what.str();
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        const bool ok = end != text.c_str() && *end == '\0' && std::isfinite(v) && (open_low ? v > lo : v >= lo) && v <= hi;
        return ok ? std::string() : "got " + text + ", expected " + expected;
      },
      expected);
}

void add_solver_flags(CLI::App& cmd, MesobOptions& o) {
  const double huge = std::numeric_limits<double>::max();
  cmd.add_option("--lambda1", o.lambda1, "Welfare weight λ1 (solver.lambda1)")->check(finite_number(0, huge));
  cmd.add_option("--lambda2", o.lambda2, "Exploitability weight λ2 (solver.lambda2)")->check(finite_number(0, huge));
  cmd.add_option("--rho1", o.rho1, "Consistency penalty ρ1 (solver.rho1)")->check(finite_number(0, huge));
  cmd.add_option("--rho2", o.rho2, "Best-response penalty ρ2 (solver.rho2)")->check(finite_number(0, huge));
  cmd.add_option("--iterations", o.iterations, "Iterations (0 reports the initial, uniform policy)")
      ->check(CLI::Range(0LL, 100'000'000LL));
  cmd.add_option("--lr", o.lr, "Step size; first trial step of armijo / mirror (solver.lr)")
      ->check(finite_number(0, huge, true));
  cmd.add_option("--optimizer", o.optimizer,
                 "OMO step rule: armijo (projected gradient, Barzilai-Borwein step + Armijo backtracking), mirror\n"
                 "(entropic mirror descent on d's simplices, same line search), adam (projected Adam) or gradient\n"
                 "(fixed projected step) (solver.optimizer)")
      ->check(CLI::IsMember({"adam", "gradient", "armijo", "mirror"}));
  cmd.add_option("--consistency", o.consistency,
                 "exact (d kept consistent by projection) or penalty (the paper's ρ1 g^CS) (solver.consistency)")
      ->check(CLI::IsMember({"exact", "penalty"}));
  cmd.add_option("--tol", o.tol,
                 "Stop once the optimality measure is <= tol: projected-gradient residual (OMO solvers),\n"
                 "exploitability (omd, fp); 0 runs every iteration (solver.tol)")
      ->check(finite_number(0, huge));
  cmd.add_option("--multiplier-every", o.multiplier_every,
                 "OMO solvers: augmented Lagrangian, multipliers of the best-response equations (and of a\n"
                 "budget) updated every N steps; 0 is the paper's penalty form (solver.multiplier_every; default\n"
                 "20 for mf-omo, 0 otherwise)")
      ->check(CLI::Range(0LL, 100'000'000LL));
}

MesobScenario load(const MesobOptions& o) {
  const std::string path = o.common.scenario.empty() ? scenario_path("mesob-paper.yaml") : o.common.scenario;
  MesobScenario sc = mesob::load_mesob_scenario(path, overrides_of(o.common));
  SolverConfig& c = sc.solver;
  if (!o.solver.empty() && !mesob::parse_solver(o.solver, c.kind))
    throw UsageError("--solver " + o.solver + ": expected mesob-omo, mf-omo, mfc, omd, fp or heuristic");
  if (!std::isnan(o.lambda1)) c.weights.lambda1 = o.lambda1;
  if (!std::isnan(o.lambda2)) c.weights.lambda2 = o.lambda2;
  if (!std::isnan(o.rho1)) c.weights.rho1 = o.rho1;
  if (!std::isnan(o.rho2)) c.weights.rho2 = o.rho2;
  if (!std::isnan(o.lr)) c.lr = o.lr;
  if (!std::isnan(o.tol)) c.tol = o.tol;
  if (o.iterations >= 0) c.iterations = static_cast<int>(o.iterations);
  if (!o.optimizer.empty()) mesob::parse_optimizer(o.optimizer, c.optimizer);
  if (!o.consistency.empty()) c.exact_consistency = o.consistency == "exact";
  if (o.multiplier_every >= 0) c.multiplier_every = static_cast<int>(o.multiplier_every);
  if (!std::isnan(o.budget)) {
    // mf-omo fixes its own weights and mfc has no best-response term, so z·d would mean nothing there.
    if (c.kind != mesob::SolverKind::mesob_omo)
      throw UsageError("--budget " + YamlReader::num(o.budget) + ": applies to --solver mesob-omo only, got " +
                       mesob::to_string(c.kind));
    c.weights.budget = o.budget;
    if (c.multiplier_every <= 0) c.multiplier_every = mesob::kFrontierMultiplierEvery;
  }
  return sc;
}

const char* device_name(Device d) { return d == Device::cuda ? "cuda" : "cpu"; }

std::string describe(const SolverConfig& c) {
  std::ostringstream o;
  o << mesob::to_string(c.kind);
  if (c.kind == mesob::SolverKind::heuristic) {
    o << " (η " << c.heuristic.eta << ", κ " << c.heuristic.auctions << " auctions, " << c.heuristic.rounds
      << " rounds, " << c.heuristic.runs << " runs)";
    return o.str();
  }
  const bool line_search = c.optimizer == mesob::OptimizerKind::armijo || c.optimizer == mesob::OptimizerKind::mirror;
  const bool omd_line_search = c.kind == mesob::SolverKind::omd && line_search;
  const char* rule = c.kind <= mesob::SolverKind::mfc ? mesob::to_string(c.optimizer)
                     : omd_line_search                ? "softmax, step line-searched on exploitability"
                     : c.kind == mesob::SolverKind::omd ? "softmax, fixed step"
                     : line_search                      ? "best response, mixing weight line-searched on exploitability"
                                                        : "best response, average with weight 1/(k+1)";
  o << " (" << rule;
  if (c.kind != mesob::SolverKind::fp) o << ", " << (omd_line_search ? "first step " : "lr ") << c.lr;
  o << ", " << c.iterations << " iterations)";
  if (c.kind <= mesob::SolverKind::mfc) {
    const mesob::OmoWeights w = mesob::effective_weights(c);
    o << " · λ1 " << w.lambda1 << "  λ2 " << w.lambda2 << "  ρ1 " << w.rho1 << "  ρ2 " << w.rho2 << " · "
      << (c.exact_consistency ? "exact consistency" : "consistency penalty");
    if (mesob::effective_multiplier_every(c) > 0) o << " · multipliers every " << mesob::effective_multiplier_every(c);
  }
  if (c.tol > 0) o << " · tol " << c.tol;
  return o.str();
}

json policy_json(const AuctionGame& g, const mesob::Policy& pi) {
  json out = json::array();
  for (int t = 0; t < g.slices(); ++t) {
    json slice = json::array();
    for (int s = 0; s < g.states(); ++s) {
      json row = json::array();
      for (int a = 0; a < g.actions(); ++a) row.push_back(pi[static_cast<std::size_t>(t) * g.pairs() + s * g.actions() + a]);
      slice.push_back(row);
    }
    out.push_back(slice);
  }
  return out;
}

void print_policy(std::ostream& out, const AuctionGame& g, const mesob::Policy& pi, int t) {
  out << "  " << std::left << std::setw(14) << ("t=" + std::to_string(t));
  for (const std::string& a : g.action_labels()) out << std::right << std::setw(10) << a;
  out << "\n";
  for (int s = 0; s < g.states(); ++s) {
    out << "  " << std::left << std::setw(14) << g.state_labels()[s] << std::right << std::fixed << std::setprecision(3);
    for (int a = 0; a < g.actions(); ++a) out << std::setw(10) << pi[static_cast<std::size_t>(t) * g.pairs() + s * g.actions() + a];
    out << "\n" << std::defaultfloat;
  }
}

double max_policy_change_over_time(const AuctionGame& g, const mesob::Policy& pi) {
  double change = 0;
  for (int t = 1; t < g.slices(); ++t)
    for (int p = 0; p < g.pairs(); ++p)
      change = std::max(change, std::fabs(pi[static_cast<std::size_t>(t) * g.pairs() + p] - pi[p]));
  return change;
}

std::string history_csv(const SolveResult& r) {
  std::ostringstream o;
  o.precision(10);
  o << "iteration,objective,exploitability,welfare,consistency,best_response,complementarity,residual\n";
  for (const auto& h : r.history)
    o << h.iteration << "," << h.objective << "," << h.exploitability << "," << h.welfare << "," << h.consistency << ","
      << h.best_response << "," << h.complementarity << "," << h.residual << "\n";
  return o.str();
}

json welfare_json(const mesob::Welfare& w, const mesob::WelfareParams& p) {
  const double revenue = w.v1 * w.v3;
  return {{"welfare", w.value}, {"V1", w.v1}, {"V2", w.v2}, {"V3", w.v3},
          {"shoppers_term", p.c1 * std::log(w.v1 + p.eps1)},
          {"advertisers_term", p.c2 * std::log(w.v2 / (revenue + p.eps0) + p.eps2)},
          {"publisher_term", p.c3 * std::log(revenue + p.eps3)}};
}

json game_json(const MesobScenario& sc, const AuctionGame& g) {
  return {{"scenario", sc.source}, {"name", sc.name}, {"states", g.state_labels()}, {"actions", g.action_labels()},
          {"bidders", g.bidders()}, {"horizon", g.horizon()}, {"mu0", g.mu0()}, {"mu0_note", sc.mu0_note}};
}

std::string bridge_report(const AuctionGame& g, const mesob::BridgeResult& b, std::ostringstream& csv) {
  std::ostringstream o;
  o << "bridge: " << b.agents << " agents x " << b.envs << " envs x " << b.steps << " steps, " << b.impressions
    << " auctions per step, n = " << g.bidders() << " candidates each (engine, CPU backend)\n";
  o << "  " << std::left << std::setw(22) << "pair" << std::right << std::setw(12) << "auctions" << std::setw(11) << "win sim"
    << std::setw(11) << "eq. (8)" << std::setw(8) << "z" << std::setw(11) << "pay sim" << std::setw(11) << "CPC (A)"
    << std::setw(8) << "z" << "\n";
  csv << "state,action,score,participations,wins,win_rate,win_rate_closed,win_rate_se,payment,payment_closed,payment_se,compared\n";
  csv.precision(10);
  for (const auto& r : b.rows) {
    csv << g.state_labels()[r.state] << "," << g.action_labels()[r.action] << "," << r.score << "," << r.participations << ","
        << r.wins << "," << r.win_rate << "," << r.win_rate_closed << "," << r.win_rate_se << "," << r.payment << ","
        << r.payment_closed << "," << r.payment_se << "," << (r.compared ? 1 : 0) << "\n";
    if (r.participations == 0) continue;
    o << "  " << std::left << std::setw(22) << (g.state_labels()[r.state] + " " + g.action_labels()[r.action]) << std::right
      << std::setw(12) << r.participations << std::fixed << std::setprecision(4) << std::setw(11) << r.win_rate
      << std::setw(11) << r.win_rate_closed << std::setprecision(1) << std::setw(8)
      << (r.compared && r.win_rate_se > 0 ? (r.win_rate - r.win_rate_closed) / r.win_rate_se : 0.0) << std::setprecision(4)
      << std::setw(11) << r.payment << std::setw(11) << r.payment_closed << std::setprecision(1) << std::setw(8)
      << (r.compared && r.payment_se > 0 ? (r.payment - r.payment_closed) / r.payment_se : 0.0) << std::defaultfloat
      << (r.compared ? "" : "  (zero bid: the engine does not sell to it)") << "\n";
  }
  o << "  largest |z| over pairs with a positive score: win rate " << std::setprecision(3) << b.max_win_z
    << ", payment " << b.max_payment_z << "\n";
  return o.str();
}

int run_mesob(const MesobOptions& o) {
  const MesobScenario sc = load(o);
  // A batch of one: --device cuda runs an OMO solver as a one-thread device batch (omd, fp and the
  // heuristic stay on the CPU); auto keeps one configuration on the CPU (resolve_device).
  const Device device = mesob::resolve_device(parse_device(o.common.device), {sc.solver});
  if (!o.common.out.empty()) prepare_output_dir(o.common.out, o.common.force);
  const AuctionGame game(sc.game);
  const auto start = std::chrono::steady_clock::now();
  // On the CPU a batch of one is solve() itself (solve_batch's contract), which reports each iteration.
  ProgressLine progress("mesob", "iterations", progress_mode_of(o.common));
  const SolveResult r =
      device == Device::cpu
          ? mesob::solve(game, sc.solver,
                         [&](int done, int total) {
                           progress.update("iteration " + std::to_string(done) + "/" + std::to_string(total), done,
                                           total, sc.solver.tol > 0);  // tol may stop it early
                         })
          : mesob::solve_batch(game, {sc.solver}, o.common.threads, device).front();
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // --quiet prints only the result line; it never drops a requested file.
  const bool talk = !o.common.quiet;
  std::cout << sc.name << " · " << describe(sc.solver) << "\n";
  if (talk) {
    std::cout << game.states() << " states x " << game.actions() << " bids, n = " << game.bidders() << " bidders per auction, t = 0.."
              << game.horizon() << ", μ0 " << sc.mu0_note << "\n";
  }
  std::cout << "exploitability " << r.exploitability << "   welfare F " << r.welfare.value << "  (V1 clicks " << r.welfare.v1
            << ", V2 sales " << r.welfare.v2 << ", V3 payments " << r.welfare.v3 << ")\n";
  if (talk) {
    std::cout << (mesob::is_omo(sc.solver.kind) ? "projected-gradient residual " : "optimality measure (exploitability) ")
              << r.residual << " after " << r.iterations_run << " iterations: "
              << (r.converged ? "converged (<= tol " : "not converged (tol ") << sc.solver.tol << ")\n";
    if (mesob::is_omo(sc.solver.kind))
      std::cout << "objective " << r.final_terms.objective << "  (g^CS " << r.final_terms.consistency << ", h^BR "
                << r.final_terms.best_response << ", z·d " << r.final_terms.complementarity << ")\n";
    std::cout << "solved in " << seconds * 1e3 << " ms on " << device_name(r.device) << " (history every "
              << sc.solver.record_every << " iterations included)\n";
    std::cout << "policy π_t(bid | state):\n";
    print_policy(std::cout, game, r.policy, 0);
    const double drift = max_policy_change_over_time(game, r.policy);
    if (drift > 1e-3) {
      std::cout << "  (the policy changes over time by up to " << drift << "; last slice:)\n";
      print_policy(std::cout, game, r.policy, game.horizon());
    }
  }

  json summary = game_json(sc, game);
  summary["solver"] = mesob::to_string(sc.solver.kind);
  summary["config"] = {{"lambda1", mesob::effective_weights(sc.solver).lambda1},
                       {"lambda2", mesob::effective_weights(sc.solver).lambda2},
                       {"rho1", sc.solver.weights.rho1}, {"rho2", sc.solver.weights.rho2},
                       {"optimizer", mesob::to_string(sc.solver.optimizer)}, {"lr", sc.solver.lr},
                       {"iterations", sc.solver.iterations}, {"tol", sc.solver.tol},
                       {"multiplier_every", mesob::effective_multiplier_every(sc.solver)},
                       {"consistency", sc.solver.exact_consistency ? "exact" : "penalty"}};
  summary["exploitability"] = r.exploitability;
  // The optimality measure (projected-gradient residual for OMO solvers, exploitability otherwise).
  summary["residual"] = r.residual;
  summary["converged"] = r.converged;
  summary["iterations_run"] = r.iterations_run;
  const json welfare = welfare_json(r.welfare, game.welfare());
  for (auto it = welfare.begin(); it != welfare.end(); ++it) summary[it.key()] = it.value();
  summary["objective"] = {{"value", r.final_terms.objective}, {"consistency", r.final_terms.consistency},
                          {"best_response", r.final_terms.best_response},
                          {"complementarity", r.final_terms.complementarity}};
  summary["policy"] = policy_json(game, r.policy);
  summary["seconds"] = seconds;
  summary["device"] = device_name(r.device);

  std::string bridge_csv;
  if (o.bridge) {
    const mesob::BridgeResult b = mesob::run_bridge(game, r.policy, sc.bridge, sc.seed, o.common.threads);
    std::ostringstream csv;
    const std::string report = bridge_report(game, b, csv);
    if (talk) std::cout << report;
    bridge_csv = csv.str();
    summary["bridge"] = {{"agents", b.agents}, {"envs", b.envs}, {"impressions", b.impressions},
                         {"max_win_rate_z", b.max_win_z}, {"max_payment_z", b.max_payment_z}};
  }
  if (!o.common.out.empty()) {
    write_file_atomic(o.common.out, "summary.json", summary.dump(2) + "\n");
    write_file_atomic(o.common.out, "history.csv", history_csv(r));
    if (o.bridge) write_file_atomic(o.common.out, "bridge.csv", bridge_csv);
    PlotPanel panel{"exploitability vs iteration", "iteration", "exploitability (eq. 5)", {}, true};
    PlotSeries s;
    s.label = mesob::to_string(sc.solver.kind);
    s.lines = true;
    s.markers = false;
    for (const auto& h : r.history) { s.x.push_back(h.iteration); s.y.push_back(h.exploitability); }
    panel.series.push_back(s);
    write_file_atomic(o.common.out, "history.svg", svg_plot({panel}));
    if (talk)
      std::cout << "wrote summary.json, history.csv" << (o.bridge ? ", bridge.csv" : "") << " and history.svg in "
              << o.common.out << "\n";
  }
  return 0;
}

// Indices of the points no other point beats on both welfare (higher) and exploitability (lower).
std::vector<std::size_t> pareto_front(const std::vector<SolveResult>& rs) {
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    bool dominated = false;
    for (std::size_t j = 0; j < rs.size() && !dominated; ++j)
      dominated = j != i && rs[j].welfare.value >= rs[i].welfare.value && rs[j].exploitability <= rs[i].exploitability &&
                  (rs[j].welfare.value > rs[i].welfare.value || rs[j].exploitability < rs[i].exploitability);
    if (!dominated) front.push_back(i);
  }
  return front;
}

int run_pareto(const MesobOptions& o) {
  MesobScenario sc = load(o);
  const Device requested = parse_device(o.common.device);
  if (!o.grid1.empty()) sc.pareto_lambda1 = o.grid1;
  if (!o.grid2.empty()) sc.pareto_lambda2 = o.grid2;
  bool any_positive = false;
  for (double l1 : sc.pareto_lambda1)
    for (double l2 : sc.pareto_lambda2) {
      if (!(l1 >= 0 && l2 >= 0) || !std::isfinite(l1) || !std::isfinite(l2))
        throw UsageError("--lambda1-grid / --lambda2-grid: expected finite values >= 0");
      any_positive |= l1 > 0 || l2 > 0;
    }
  if (!any_positive) throw UsageError("mesob-pareto: the λ grid has only (0, 0), expected a positive weight in the pareto grid");
  const bool frontier = o.method == "frontier";
  const AuctionGame game(sc.game);
  std::vector<SolverConfig> configs;
  if (frontier) {
    mesob::FrontierOptions f;
    if (o.budgets > 0) f.budgets = o.budgets;
    f.iterations_given = o.iterations >= 0;
    f.rho2_given = !std::isnan(o.rho2);
    f.multiplier_every_given = o.multiplier_every >= 0;
    configs = mesob::frontier_configs(game, sc.solver, f);
  } else {
    for (double l1 : sc.pareto_lambda1) {
      for (double l2 : sc.pareto_lambda2) {
        if (l1 == 0 && l2 == 0) continue;
        SolverConfig c = sc.solver;
        c.kind = mesob::SolverKind::mesob_omo;
        c.weights.lambda1 = l1;
        c.weights.lambda2 = l2;
        c.record_every = 0;
        configs.push_back(c);
      }
    }
    // The paper's red point: the equilibrium end computed by MF-OMO itself (Appendix C.1's unit weights).
    SolverConfig mf_omo = sc.solver;
    mf_omo.kind = mesob::SolverKind::mf_omo;
    mf_omo.record_every = 0;
    configs.push_back(mf_omo);
  }
  // Every configuration is an OMO one, so cuda (or auto on a large grid with a device) runs them all there.
  const Device device = mesob::resolve_device(requested, configs);
  if (!o.common.out.empty()) prepare_output_dir(o.common.out, o.common.force);
  const auto start = std::chrono::steady_clock::now();
  ProgressLine progress("mesob-pareto", "configurations", progress_mode_of(o.common));
  const std::vector<SolveResult> results = mesob::solve_batch(
      game, configs, o.common.threads, device, [&](int done, int total) { progress.update(done, total); });
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::vector<std::size_t> front = pareto_front(results);

  const SolverConfig& shown = frontier ? configs[1] : sc.solver;  // frontier: a budget configuration
  if (frontier) {
    std::cout << sc.name << " · ε-constraint frontier: " << configs.size() - 2
              << " exploitability budgets (max F s.t. z·d <= ε, augmented Lagrangian every " << shown.multiplier_every
              << " steps) + MF-OMO + MFC, up to " << shown.iterations << " iterations of " << mesob::to_string(shown.optimizer)
              << " (ρ2 " << shown.weights.rho2 << ") in " << seconds << " s on " << device_name(device) << "\n";
  } else {
    std::cout << sc.name << " · Pareto sweep: " << configs.size() << " (λ1, λ2) configurations x up to " << shown.iterations
              << " iterations of MESOB-OMO (" << mesob::to_string(shown.optimizer) << ", lr " << shown.lr << ", ρ1 "
              << shown.weights.rho1 << ", ρ2 " << shown.weights.rho2 << ") in " << seconds << " s on "
              << device_name(device) << "\n";
  }
  if (!o.common.quiet)
    std::cout << "  " << std::setw(8) << (frontier ? "budget" : "λ1") << std::setw(8) << (frontier ? "" : "λ2")
              << std::setw(16) << "exploitability" << std::setw(12) << "welfare" << std::setw(10) << "V1" << std::setw(10)
              << "V2" << std::setw(10) << "V3" << "\n";
  std::ostringstream csv;
  csv.precision(10);
  csv << "solver,lambda1,lambda2,rho1,rho2,exploitability,welfare,V1,V2,V3,shoppers_term,advertisers_term,publisher_term,objective,consistency,best_response,on_front,residual,converged,iterations_run,budget\n";
  int converged = 0;
  json points = json::array();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const SolveResult& r = results[i];
    const bool on_front = std::find(front.begin(), front.end(), i) != front.end();
    const json w = welfare_json(r.welfare, game.welfare());
    const mesob::OmoWeights w_used = mesob::effective_weights(r.config);
    csv << mesob::to_string(r.config.kind) << "," << w_used.lambda1 << "," << w_used.lambda2 << "," << w_used.rho1 << ","
        << w_used.rho2 << "," << r.exploitability << "," << r.welfare.value
        << "," << r.welfare.v1 << "," << r.welfare.v2 << "," << r.welfare.v3 << "," << w["shoppers_term"].get<double>() << ","
        << w["advertisers_term"].get<double>() << "," << w["publisher_term"].get<double>() << "," << r.final_terms.objective
        << "," << r.final_terms.consistency << "," << r.final_terms.best_response << "," << (on_front ? 1 : 0) << ","
        << r.residual << "," << (r.converged ? 1 : 0) << "," << r.iterations_run << "," << r.config.weights.budget << "\n";
    converged += r.converged ? 1 : 0;
    json pt = w;
    pt["solver"] = mesob::to_string(r.config.kind);
    pt["lambda1"] = w_used.lambda1;
    pt["lambda2"] = w_used.lambda2;
    pt["rho1"] = w_used.rho1;
    pt["rho2"] = w_used.rho2;
    pt["exploitability"] = r.exploitability;
    pt["on_front"] = on_front;
    pt["residual"] = r.residual;
    pt["converged"] = r.converged;
    pt["iterations_run"] = r.iterations_run;
    if (r.config.weights.budget >= 0) pt["budget"] = r.config.weights.budget;
    points.push_back(pt);
    if (on_front && !o.common.quiet && r.config.weights.budget >= 0)
      std::cout << "  " << std::setprecision(2) << std::setw(8) << r.config.weights.budget << std::setw(8) << ""
                << std::fixed << std::setprecision(5) << std::setw(16) << r.exploitability << std::setw(12)
                << r.welfare.value << std::setw(10) << r.welfare.v1 << std::setw(10) << r.welfare.v2 << std::setw(10)
                << r.welfare.v3 << std::defaultfloat << "\n";
    else if (on_front && !o.common.quiet)
      std::cout << "  " << std::fixed << std::setprecision(2) << std::setw(8) << w_used.lambda1 << std::setw(8)
                << w_used.lambda2 << std::setprecision(5) << std::setw(16) << r.exploitability << std::setw(12)
                << r.welfare.value << std::setw(10) << r.welfare.v1 << std::setw(10) << r.welfare.v2 << std::setw(10)
                << r.welfare.v3 << std::defaultfloat << "\n";
  }
  const std::size_t mf_index = frontier ? 0 : results.size() - 1;
  const SolveResult& mf = results[mf_index];
  std::cout << "  MF-OMO (λ1 = 0, λ2 = ρ1 = 1, ρ2 " << mesob::effective_weights(mf.config).rho2
            << (mesob::effective_multiplier_every(mf.config) > 0 ? ", with multipliers" : "") << "): exploitability " << mf.exploitability
            << ", welfare " << mf.welfare.value
            << (std::find(front.begin(), front.end(), mf_index) != front.end() ? " (on the front)" : "") << "\n";
  std::cout << "  (" << front.size() << " of " << results.size() << " points are on the front; all are in pareto.csv; "
            << converged << " of " << results.size() << " converged to residual <= " << sc.solver.tol << ")\n";
  if (o.common.out.empty()) return 0;

  json summary = game_json(sc, game);
  summary["points"] = points;
  summary["method"] = frontier ? "frontier" : "lambda";
  summary["iterations"] = sc.solver.iterations;
  summary["tol"] = sc.solver.tol;
  summary["converged"] = converged;
  summary["optimizer"] = mesob::to_string(sc.solver.optimizer);
  summary["seconds"] = seconds;
  summary["device"] = device_name(device);
  write_file_atomic(o.common.out, "summary.json", summary.dump(2) + "\n");
  write_file_atomic(o.common.out, "pareto.csv", csv.str());

  // Fig. 1 analogue: welfare vs exploitability (red: λ1 = 0, the MF-OMO equilibrium end; black: λ2 = 0, MFC).
  auto series_of = [&](const std::string& label, const std::string& color, auto pick, auto keep) {
    PlotSeries s;
    s.label = label;
    s.color = color;
    for (const SolveResult& r : results)
      if (keep(r)) { s.x.push_back(r.exploitability); s.y.push_back(pick(r)); }
    return s;
  };
  using mesob::SolverKind;
  auto grid_point = [](const SolveResult& r) { return r.config.kind == SolverKind::mesob_omo; };
  auto budgeted = [](const SolveResult& r) { return r.config.weights.budget >= 0; };
  auto blue = [=](const SolveResult& r) {
    return grid_point(r) && (budgeted(r) || (r.config.weights.lambda1 > 0 && r.config.weights.lambda2 > 0));
  };
  auto gray = [=](const SolveResult& r) { return grid_point(r) && !budgeted(r) && r.config.weights.lambda1 == 0; };
  auto red = [](const SolveResult& r) { return r.config.kind == SolverKind::mf_omo; };
  auto black = [=](const SolveResult& r) {
    return r.config.kind == SolverKind::mfc || (grid_point(r) && !budgeted(r) && r.config.weights.lambda2 == 0);
  };
  auto panel_for = [&](const std::string& title, const std::string& y_label, auto pick) {
    PlotPanel p{title, "exploitability (eq. 5)", y_label, {}};
    p.series.push_back(series_of(frontier ? "max F s.t. exploitability <= ε" : "MESOB-OMO, λ1, λ2 > 0", "#1f77b4", pick, blue));
    p.series.push_back(series_of("MESOB-OMO, λ1 = 0", "#999999", pick, gray));
    p.series.push_back(series_of("MF-OMO (C.1 weights)", "#d62728", pick, red));
    p.series.push_back(series_of("λ2 = 0 (MFC)", "#000000", pick, black));
    return p;
  };
  const mesob::WelfareParams wp = game.welfare();
  write_file_atomic(o.common.out, "pareto.svg",
                    svg_plot({panel_for("welfare F vs exploitability", "welfare F (eq. 7)",
                                        [](const SolveResult& r) { return r.welfare.value; })}));
  write_file_atomic(
      o.common.out, "components.svg",
      svg_plot({panel_for("shoppers: c1 ln(V1 + ε1)", "term", [wp](const SolveResult& r) { return wp.c1 * std::log(r.welfare.v1 + wp.eps1); }),
                panel_for("advertisers: c2 ln(V2/(V1 V3 + ε0) + ε2)", "term",
                          [wp](const SolveResult& r) {
                            return wp.c2 * std::log(r.welfare.v2 / (r.welfare.v1 * r.welfare.v3 + wp.eps0) + wp.eps2);
                          }),
                panel_for("publisher: c3 ln(V1 V3 + ε3)", "term",
                          [wp](const SolveResult& r) { return wp.c3 * std::log(r.welfare.v1 * r.welfare.v3 + wp.eps3); })}));
  std::cout << "wrote summary.json, pareto.csv, pareto.svg and components.svg in " << o.common.out << "\n";
  return 0;
}

}  // namespace

void add_mesob_commands(CLI::App& app, CommandList& commands) {
  auto solve_opts = std::make_shared<MesobOptions>();
  CLI::App* solve = app.add_subcommand(
      "mesob",
      "Solve the mean-field auction game of a mesob scenario (MESOB paper §3) with one solver and report\n"
      "the policy, its exploitability (eq. 5) and welfare (eq. 7). Outputs with --out DIR: summary.json,\n"
      "history.csv (per recorded iteration), history.svg, and bridge.csv with --bridge.");
  add_common_options(*solve, solve_opts->common, "mesob-paper.yaml");
  solve->add_option("--solver", solve_opts->solver, "mesob-omo | mf-omo | mfc | omd | fp | heuristic (solver.method)");
  add_solver_flags(*solve, *solve_opts);
  solve->add_option("--budget", solve_opts->budget,
                    "mesob-omo: maximize λ1 F subject to z·d <= BUDGET (the ε-constraint of --method frontier;\n"
                    "turns on --multiplier-every 100 unless given)")
      ->check(finite_number(0, std::numeric_limits<double>::max()));
  solve->add_flag("--bridge", solve_opts->bridge,
                  "Also run the policy with N agents in the engine and compare win rates and payments with eq. (8)-(9)");
  commands.push_back({solve, [solve_opts] { return run_mesob(*solve_opts); }});

  auto pareto_opts = std::make_shared<MesobOptions>();
  CLI::App* pareto = app.add_subcommand(
      "mesob-pareto",
      "Solve MESOB-OMO for every (λ1, λ2) of a grid in one batch (pareto.lambda1 x pareto.lambda2, skipping (0, 0))\n"
      "and report the welfare / exploitability front. Outputs with --out DIR: summary.json, pareto.csv,\n"
      "pareto.svg (Fig. 1 analogue) and components.svg (Fig. 2 analogue). --device cuda iterates the whole\n"
      "grid as one GPU batch (auto does so from 64 configurations when a device is present).");
  add_common_options(*pareto, pareto_opts->common, "mesob-paper.yaml");
  add_solver_flags(*pareto, *pareto_opts);
  pareto->add_option("--lambda1-grid", pareto_opts->grid1, "λ1 values (overrides pareto.lambda1)")->delimiter(',');
  pareto->add_option("--lambda2-grid", pareto_opts->grid2, "λ2 values (overrides pareto.lambda2)")->delimiter(',');
  pareto->add_option("--method", pareto_opts->method,
                     "lambda: the paper's (λ1, λ2) grid of MESOB-OMO; frontier: the ε-constraint sweep, max F\n"
                     "subject to exploitability <= ε for --budgets values of ε (batched like the grid)")
      ->check(CLI::IsMember({"lambda", "frontier"}));
  pareto->add_option("--budgets", pareto_opts->budgets, "--method frontier: number of exploitability budgets (default 32)")
      ->check(CLI::Range(2, 100000));
  commands.push_back({pareto, [pareto_opts] { return run_pareto(*pareto_opts); }});
}

}  // namespace bidsim
