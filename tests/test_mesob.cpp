// Mean-field auction tests: closed forms (eqs. 8–9) against hand values, brute-force enumeration and
// Monte Carlo; the exact gradients against finite differences; Γ, exploitability, projections,
// solvers, the batched OMO engines (host reference bit for bit, CUDA against the CPU in [cuda] cases),
// the bridge to the engine, and bad scenario input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/core/errors.hpp"
#include "engine/core/rng.hpp"
#include "engine/facade/simulator.hpp"
#include "mesob/bridge.hpp"
#include "mesob/mean_field.hpp"
#include "mesob/mesob_scenario.hpp"
#include "mesob/omo_batch.hpp"
#include "mesob/solvers.hpp"

using namespace bidsim;
using namespace bidsim::mesob;

namespace {

AuctionGameConfig tiny_config(std::vector<double> ctr, std::vector<double> bids, int n, double value = 2.0,
                              int horizon = 0) {
  AuctionGameConfig c;
  c.ctr = std::move(ctr);
  c.ctr_distribution.assign(c.ctr.size(), 1.0 / c.ctr.size());
  c.bids = std::move(bids);
  c.bidders = n;
  c.types = {{"all", value, 1.0}};
  c.horizon = horizon;
  return c;
}

std::vector<double> random_simplex(std::mt19937_64& rng, int n, bool allow_zero = false) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> x(n);
  double total = 0;
  for (double& v : x) {
    v = u(rng);
    if (allow_zero && u(rng) < 0.25) v = 0;
    total += v;
  }
  if (total == 0) { x[0] = 1; total = 1; }
  for (double& v : x) v /= total;
  return x;
}

struct SliceResult {
  std::vector<double> ctr, sale, cpc, reward;
};

SliceResult slice_metrics(const AuctionGame& g, const std::vector<double>& L) {
  SliceResult r{std::vector<double>(g.pairs()), std::vector<double>(g.pairs()), std::vector<double>(g.pairs()),
                std::vector<double>(g.pairs())};
  SliceEvaluator eval(g);
  eval.metrics(L.data(), r.ctr.data(), r.sale.data(), r.cpc.data(), r.reward.data());
  return r;
}

// Expected win probability and payment of a bidder at `pair` by enumerating every profile of the
// n − 1 others, each drawn independently from L; ties split uniformly, a tie pays the own score.
std::pair<double, double> brute_force(const AuctionGame& g, const std::vector<double>& L, int pair) {
  const int SA = g.pairs(), others = g.bidders() - 1;
  auto score_of = [&](int p) { return g.ctr()[p / g.actions()] * g.bid()[p % g.actions()]; };
  const double own = score_of(pair);
  double win = 0, pay = 0;
  std::vector<int> idx(others, 0);
  while (true) {
    double prob = 1, top = -1;
    for (int k = 0; k < others; ++k) {
      prob *= L[idx[k]];
      top = std::max(top, score_of(idx[k]));
    }
    if (prob > 0) {
      int ties = 0;
      for (int k = 0; k < others; ++k) ties += std::fabs(score_of(idx[k]) - own) <= 1e-12;
      if (own > top + 1e-12) {
        win += prob;
        pay += prob * top;
      } else if (std::fabs(own - top) <= 1e-12) {
        win += prob / (ties + 1);
        pay += prob * own / (ties + 1);
      }
    }
    int k = 0;
    while (k < others && ++idx[k] == SA) idx[k++] = 0;
    if (k == others) break;
  }
  return {win, pay};
}

double central_difference(const std::function<double(double)>& f, double h = 1e-6) {
  return (f(h) - f(-h)) / (2 * h);
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// Every field a solver reports, bit for bit.
void check_identical(const SolveResult& a, const SolveResult& b) {
  CHECK(same_bits(a.policy, b.policy));
  CHECK(same_bits(a.flow, b.flow));
  CHECK(same_bits(a.exploitability, b.exploitability));
  CHECK(same_bits(a.welfare.value, b.welfare.value));
  CHECK(same_bits(a.final_terms.objective, b.final_terms.objective));
  CHECK(same_bits(a.final_terms.consistency, b.final_terms.consistency));
  CHECK(same_bits(a.final_terms.best_response, b.final_terms.best_response));
  CHECK(same_bits(a.final_terms.complementarity, b.final_terms.complementarity));
  CHECK(same_bits(a.final_terms.welfare.value, b.final_terms.welfare.value));
  REQUIRE(a.history.size() == b.history.size());
  for (std::size_t k = 0; k < a.history.size(); ++k) {
    const IterationRecord &x = a.history[k], &y = b.history[k];
    INFO("record " << k << " (iteration " << x.iteration << ")");
    CHECK(x.iteration == y.iteration);
    CHECK(same_bits(x.objective, y.objective));
    CHECK(same_bits(x.exploitability, y.exploitability));
    CHECK(same_bits(x.welfare, y.welfare));
    CHECK(same_bits(x.consistency, y.consistency));
    CHECK(same_bits(x.best_response, y.best_response));
    CHECK(same_bits(x.complementarity, y.complementarity));
    CHECK(same_bits(x.residual, y.residual));
  }
}

// Mixed OMO configurations: every kind, both optimizers, own iteration counts and record intervals.
std::vector<SolverConfig> mixed_omo_configs() {
  std::vector<SolverConfig> configs;
  const SolverKind kinds[] = {SolverKind::mesob_omo, SolverKind::mf_omo, SolverKind::mfc};
  const int iterations[] = {37, 0, 120, 60};
  const int record_every[] = {10, 0, 25, 7};
  const OptimizerKind rules[] = {OptimizerKind::adam, OptimizerKind::gradient, OptimizerKind::armijo,
                                 OptimizerKind::mirror};
  for (int i = 0; i < 12; ++i) {
    SolverConfig c;
    c.kind = kinds[i % 3];
    c.optimizer = rules[i % 4];
    c.lr = c.optimizer == OptimizerKind::adam ? 0.01 + 0.002 * i : 0.004;
    c.weights.lambda1 = 0.08 * i;
    c.weights.lambda2 = 1.0 - 0.08 * i;
    c.iterations = iterations[i % 4];
    c.record_every = record_every[(i / 2) % 4];
    c.exact_consistency = i % 5 != 1;  // some configurations in the paper's penalty form
    if (i == 2) c.tol = 1e-3;          // mfc with armijo: reaches it well before its 120 iterations
    if (i == 6) c.multiplier_every = 7;  // augmented Lagrangian (mesob-omo, armijo)
    if (i == 9) {                        // the ε-constraint of --method frontier (mesob-omo, gradient)
      c.multiplier_every = 5;
      c.weights.budget = 0.01;
    }
    configs.push_back(c);
  }
  return configs;
}

}  // namespace

TEST_CASE("auction closed forms: hand-computed two-bidder case", "[mesob]") {
  // One CTR 0.5, bids {1, 2}, half the population at each. Bid 2 (score 1) wins outright against bid 1
  // (prob 1/2, pays 0.5) and wins half the ties (prob 1/2 x 1/2, pays its own score 1).
  const AuctionGame g(tiny_config({0.5}, {1.0, 2.0}, 2, 2.0));
  const SliceResult r = slice_metrics(g, {0.5, 0.5});
  CHECK(r.ctr[1] == Approx(0.75 * 0.5));
  CHECK(r.cpc[1] == Approx(0.5 * 0.5 + 0.25 * 1.0));
  CHECK(r.sale[1] == Approx(0.75 * 2.0 * 0.5));
  CHECK(r.reward[1] == Approx(0.75 - 0.5));
  // Bid 1 (score 0.5) only wins half of the ties with another bid-1 bidder and pays 0.5.
  CHECK(r.ctr[0] == Approx(0.25 * 0.5));
  CHECK(r.cpc[0] == Approx(0.25 * 0.5));
}

TEST_CASE("auction closed forms: n bidders all on one score split the item", "[mesob]") {
  for (int n : {2, 3, 5, 30}) {
    const AuctionGame g(tiny_config({0.4}, {2.5}, n, 3.0));
    const SliceResult r = slice_metrics(g, {1.0});
    CHECK(r.ctr[0] == Approx(0.4 / n));
    CHECK(r.cpc[0] == Approx(2.5 * 0.4 / n));  // a tie pays the own bid per click, clicked with prob s
  }
}

TEST_CASE("auction closed forms equal brute-force enumeration, including ties across pairs", "[mesob]") {
  // 0.2 x 2.5 = 0.4 x 1.25 = 0.5: equal scores from different pairs; bid 0 gives three zero scores.
  std::mt19937_64 rng(7);
  for (int n : {2, 3, 4}) {
    const AuctionGame g(tiny_config({0.2, 0.4}, {0.0, 1.25, 2.5}, n, 2.0));
    REQUIRE(g.scores() == 4);  // {0, 0.25, 0.5, 1.0}
    for (int trial = 0; trial < 20; ++trial) {
      const std::vector<double> L = random_simplex(rng, g.pairs(), trial % 2 == 1);
      const SliceResult r = slice_metrics(g, L);
      for (int p = 0; p < g.pairs(); ++p) {
        const auto [win, pay] = brute_force(g, L, p);
        const double s = g.ctr()[p / g.actions()];
        CHECK(r.ctr[p] == Approx(win * s).margin(1e-13));
        CHECK(r.cpc[p] == Approx(pay).margin(1e-13));
        CHECK(r.reward[p] == Approx(win * s * 2.0 - pay).margin(1e-13));
      }
    }
  }
}

TEST_CASE("auction closed forms agree with Monte-Carlo auctions", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0));
  std::mt19937_64 rng(11);
  const std::vector<double> L = random_simplex(rng, g.pairs());
  const SliceResult r = slice_metrics(g, L);
  std::vector<double> cdf(g.pairs());
  double acc = 0;
  for (int p = 0; p < g.pairs(); ++p) cdf[p] = acc += L[p];
  const int rep = 1 * 5 + 2;  // representative pair: ctr 0.4, bid 2.5 (score 1.0, a tie with ctr 0.2 bid 5)
  const int auctions = 200000;
  double wins = 0, paid = 0;
  const double own = 0.4 * 2.5;
  for (int j = 0; j < auctions; ++j) {
    double top = 0;
    int ties = 0;
    for (int k = 0; k < 4; ++k) {
      const Draw w = draw(3, Purpose::mean_field, 1, 0, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(k));
      const int p = static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), uniform01_double(w[0]) * acc) - cdf.begin());
      const double sc = g.ctr()[p / 5] * g.bid()[p % 5];
      top = std::max(top, sc);
      ties += std::fabs(sc - own) < 1e-12;
    }
    if (own > top + 1e-12) { wins += 1; paid += top; }                        // solo: pays the next score
    else if (ties > 0 && top <= own + 1e-12) { wins += 1.0 / (ties + 1); paid += own / (ties + 1); }
  }
  const double win_closed = r.ctr[rep] / 0.4;
  const double se = std::sqrt(win_closed * (1 - win_closed) / auctions);
  CHECK(std::fabs(wins / auctions - win_closed) < 5 * se);
  CHECK(std::fabs(paid / auctions - r.cpc[rep]) < 5 * 5.0 * se);
}

TEST_CASE("auction VJP equals finite differences of the closed forms", "[mesob]") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (int n : {2, 3, 5, 12}) {
    const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75}, n, 2.5));
    const AuctionView view = g.view();
    const int m = g.scores(), SA = g.pairs();
    const std::vector<double> L = random_simplex(rng, SA);
    std::vector<double> gc(SA), gs(SA), gp(SA), gr(SA);
    for (int p = 0; p < SA; ++p) { gc[p] = normal(rng); gs[p] = normal(rng); gp[p] = normal(rng); gr[p] = normal(rng); }
    auto loss = [&](const std::vector<double>& x) {
      const SliceResult r = slice_metrics(g, x);
      double total = 0;
      for (int p = 0; p < SA; ++p) total += gc[p] * r.ctr[p] + gs[p] * r.sale[p] + gp[p] * r.cpc[p] + gr[p] * r.reward[p];
      return total;
    };
    std::vector<double> scratch(5 * m), g_win(m, 0.0), g_tie(m, 0.0), g_pay(m, 0.0), g_mass(m), g_L(SA);
    const ScoreScratch w{scratch.data(), scratch.data() + m, scratch.data() + 2 * m, scratch.data() + 3 * m, scratch.data() + 4 * m};
    auction_forward(view, L.data(), w);
    for (int p = 0; p < SA; ++p) pair_cotangent(view, p, gc[p], gs[p], gp[p], gr[p], g_win.data(), g_tie.data(), g_pay.data());
    auction_vjp(view, w, g_win.data(), g_tie.data(), g_pay.data(), g_mass.data(), g_L.data());
    for (int p = 0; p < SA; ++p) {
      const double fd = central_difference([&](double h) {
        std::vector<double> x = L;
        x[p] += h;
        return loss(x);
      });
      CHECK(g_L[p] == Approx(fd).epsilon(1e-6).margin(1e-7));
    }
  }
}

TEST_CASE("welfare link gradient equals finite differences", "[mesob]") {
  const WelfareParams w;
  double grad[3];
  const double v[3] = {1.3, 2.1, 0.7};
  welfare_link(w, v[0], v[1], v[2], grad);
  for (int k = 0; k < 3; ++k) {
    const double fd = central_difference([&](double h) {
      double x[3] = {v[0], v[1], v[2]};
      x[k] += h;
      return welfare_link(w, x[0], x[1], x[2]);
    });
    CHECK(grad[k] == Approx(fd).epsilon(1e-6).margin(1e-9));
  }
}

TEST_CASE("MESOB-OMO objective gradient equals finite differences", "[mesob]") {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 3));
  OmoObjective f(g);
  std::vector<double> y(f.y_size()), z(f.d_size()), d;
  for (double& v : y) v = normal(rng);
  for (double& v : z) v = unit(rng);
  for (int t = 0; t < g.slices(); ++t) {
    const std::vector<double> slice = random_simplex(rng, g.pairs());
    d.insert(d.end(), slice.begin(), slice.end());
  }
  // The augmented-Lagrangian forms too: a best-response shift, and the budget constraint (active: z·d of
  // these points is ~1.5, above 0.2; inactive at budget 50 with ν = 0; ν > 0 inactive-but-positive).
  std::vector<double> shift(d.size());
  for (double& v : shift) v = 0.3 * normal(rng);
  const OmoMultipliers none, shifted{shift.data(), 0.0}, priced{shift.data(), 0.7};
  OmoWeights active{1.0, 0.0, 1.0, 0.5}, loose{1.0, 0.0, 1.0, 0.5};
  active.budget = 0.2;
  loose.budget = 50;
  const std::pair<OmoWeights, OmoMultipliers> cases[] = {
      {OmoWeights{0.5, 0.5, 1.0, 0.1}, none}, {OmoWeights{1.0, 0.0, 2.0, 0.0}, none},
      {OmoWeights{0.0, 1.0, 1.0, 1.0}, none}, {OmoWeights{0.5, 0.5, 1.0, 0.1}, shifted},
      {active, shifted}, {active, priced}, {loose, none}, {loose, priced}};
  for (const auto& [w, mult] : cases) {
    std::vector<double> gy(y.size()), gz(z.size()), gd(d.size());
    f.evaluate(w, y.data(), z.data(), d.data(), gy.data(), gz.data(), gd.data(), mult);
    auto check = [&](std::vector<double>& x, const std::vector<double>& grad) {
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double saved = x[i];
        const double fd = central_difference([&](double h) {
          x[i] = saved + h;
          const double v = f.evaluate(w, y.data(), z.data(), d.data(), nullptr, nullptr, nullptr, mult).objective;
          x[i] = saved;
          return v;
        });
        CHECK(grad[i] == Approx(fd).epsilon(1e-5).margin(1e-6));
      }
    };
    check(y, gy);
    check(z, gz);
    check(d, gd);
  }
}

TEST_CASE("population flow is consistent and Π recovers the policy", "[mesob]") {
  std::mt19937_64 rng(3);
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 2.5, 5.0}, 4, 2.0, 4));
  Policy pi;
  for (int row = 0; row < g.slices() * g.states(); ++row) {
    const std::vector<double> r = random_simplex(rng, g.actions());
    pi.insert(pi.end(), r.begin(), r.end());
  }
  const Flow L = population_flow(g, pi);
  OmoObjective f(g);
  const std::vector<double> y(f.y_size(), 0.0), z(f.d_size(), 0.0);
  CHECK(f.evaluate(OmoWeights{}, y.data(), z.data(), L.data(), nullptr, nullptr, nullptr).consistency < 1e-28);
  const Policy back = retrieve_policy(g, L);
  for (std::size_t i = 0; i < pi.size(); ++i) CHECK(back[i] == Approx(pi[i]).margin(1e-12));
}

TEST_CASE("exploitability is zero at a verified equilibrium and positive elsewhere", "[mesob]") {
  // v = 6 exceeds every bid: if all bid 5 they split the item at price 5 s; a lower bid never wins,
  // so bidding 5 is a best response to everyone bidding 5 (a mean-field equilibrium).
  const AuctionGame g(tiny_config({0.2, 0.6}, {0.0, 2.5, 5.0}, 3, 6.0, 2));
  Policy top(static_cast<std::size_t>(g.slices()) * g.pairs(), 0.0);
  for (std::size_t row = 0; row < top.size(); row += g.actions()) top[row + 2] = 1.0;
  CHECK(exploitability(g, top).exploitability == Approx(0.0).margin(1e-15));
  const ExploitabilityResult u = exploitability(g, uniform_policy(g));
  CHECK(u.exploitability > 0.01);
  // It equals the gain of the best deterministic deviation, found by trying every bid per (t, s).
  const Flow L = population_flow(g, uniform_policy(g));
  const FlowMetrics m = flow_metrics(g, L);
  double gain = 0;
  for (int t = 0; t < g.slices(); ++t)
    for (int s = 0; s < g.states(); ++s) {
      double best = -1e300, mean = 0;
      for (int a = 0; a < g.actions(); ++a) {
        const double r = m.reward[static_cast<std::size_t>(t) * g.pairs() + s * g.actions() + a];
        best = std::max(best, r);
        mean += r / g.actions();
      }
      gain += g.mu0()[s] * (best - mean);
    }
  CHECK(u.exploitability == Approx(gain).epsilon(1e-12));
}

TEST_CASE("exploitability is non-negative on random policies", "[mesob]") {
  std::mt19937_64 rng(13);
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 3));
  for (int trial = 0; trial < 50; ++trial) {
    Policy pi;
    for (int row = 0; row < g.slices() * g.states(); ++row) {
      const std::vector<double> r = random_simplex(rng, g.actions(), true);
      pi.insert(pi.end(), r.begin(), r.end());
    }
    CHECK(exploitability(g, pi).exploitability >= 0.0);
  }
}

TEST_CASE("projections satisfy their definitions", "[mesob]") {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal(0.0, 2.0);
  std::vector<double> scratch(16);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + trial % 12;
    std::vector<double> x(n);
    for (double& v : x) v = normal(rng);
    // Simplex: feasible, and the variational inequality (x − p)·(q − p) ≤ 0 for feasible q.
    std::vector<double> p = x;
    project_simplex(p.data(), n, 1.0, scratch.data());
    double total = 0;
    for (double v : p) { CHECK(v >= 0.0); total += v; }
    CHECK(total == Approx(1.0).margin(1e-12));
    for (int k = 0; k < 5; ++k) {
      std::vector<double> q = random_simplex(rng, n);
      double inner = 0;
      for (int i = 0; i < n; ++i) inner += (x[i] - p[i]) * (q[i] - p[i]);
      CHECK(inner <= 1e-10);
    }
    // Z = {z ≥ 0, Σ z ≤ bound}: same inequality against feasible points (scaled simplex points and 0).
    std::vector<double> z = x;
    const double bound = 0.5 + trial % 3;
    project_capped_nonnegative(z.data(), n, bound, scratch.data());
    double zsum = 0;
    for (double v : z) { CHECK(v >= 0.0); zsum += v; }
    CHECK(zsum <= bound + 1e-12);
    for (int k = 0; k < 5; ++k) {
      std::vector<double> q = random_simplex(rng, n);
      const double scale = bound * std::uniform_real_distribution<double>(0, 1)(rng);
      double inner = 0;
      for (int i = 0; i < n; ++i) inner += (x[i] - z[i]) * (scale * q[i] - z[i]);
      CHECK(inner <= 1e-10);
    }
    // Ball: inside stays put, outside lands on the sphere along the same ray.
    std::vector<double> y = x;
    project_ball(y.data(), n, 1.5);
    double norm = 0, xnorm = 0;
    for (int i = 0; i < n; ++i) { norm += y[i] * y[i]; xnorm += x[i] * x[i]; }
    if (xnorm <= 1.5 * 1.5) {
      for (int i = 0; i < n; ++i) CHECK(y[i] == x[i]);
    } else {
      CHECK(std::sqrt(norm) == Approx(1.5));
      for (int i = 0; i < n; ++i) CHECK(y[i] * std::sqrt(xnorm) == Approx(x[i] * 1.5));
    }
  }
}

TEST_CASE("the std::sort-free simplex projection equals the sort-based one bit for bit", "[mesob]") {
  // The host+device projection insertion-sorts short arrays and pops a max-heap on long ones; the values
  // it sums are those std::sort gives, in the same order, so the result must be the original's to the bit
  // (ties and repeated values included).
  auto reference = [](std::vector<double> x, double radius) {
    std::vector<double> sorted = x;
    std::sort(sorted.begin(), sorted.end(), std::greater<double>());
    const int n = static_cast<int>(x.size());
    double cumulative = 0, theta = 0;
    for (int i = 0; i < n; ++i) {
      cumulative += sorted[i];
      const double candidate = (cumulative - radius) / (i + 1);
      if (i + 1 == n || sorted[i + 1] <= candidate) {
        theta = candidate;
        break;
      }
    }
    for (double& v : x) v = std::max(0.0, v - theta);
    return x;
  };
  std::mt19937_64 rng(23);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> scratch(1000);
  for (int trial = 0; trial < 500; ++trial) {
    const int n = trial < 450 ? 1 + trial % 150 : 2 * trial - 300;  // both sides of kInsertionSortMax, up to 698
    std::vector<double> x(n);
    for (double& v : x) v = trial % 3 == 0 ? std::round(4 * normal(rng)) / 4 : normal(rng);  // ties every third trial
    const double radius = trial % 2 ? 1.0 : 0.5 + trial % 7;
    std::vector<double> p = x;
    project_simplex(p.data(), n, radius, scratch.data());
    INFO("trial " << trial << " n " << n);
    CHECK(same_bits(p, reference(x, radius)));
    std::vector<double> sorted = x;
    insertion_sort_descending(sorted.data(), n);
    CHECK(std::is_sorted(sorted.begin(), sorted.end(), std::greater<double>()));
  }
}

TEST_CASE("every solver improves its objective on a small game", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 2));
  for (SolverKind kind : {SolverKind::mesob_omo, SolverKind::mf_omo, SolverKind::mfc}) {
    for (OptimizerKind opt : {OptimizerKind::adam, OptimizerKind::gradient, OptimizerKind::armijo, OptimizerKind::mirror}) {
      SolverConfig c;
      c.kind = kind;
      c.optimizer = opt;
      c.lr = opt == OptimizerKind::adam ? 0.01 : 0.005;
      c.iterations = 400;
      const SolveResult r = solve(g, c);
      INFO(to_string(kind) << " " << to_string(opt));
      CHECK(r.history.back().objective < r.history.front().objective);
    }
  }
  for (SolverKind kind : {SolverKind::omd, SolverKind::fp}) {
    SolverConfig c;
    c.kind = kind;
    c.lr = 0.5;
    c.iterations = 300;
    const SolveResult r = solve(g, c);
    INFO(to_string(kind));
    CHECK(r.exploitability < 0.5 * r.history.front().exploitability);
  }
}

TEST_CASE("exact consistency keeps A_d d = b; the penalty form does not", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 2));
  for (OptimizerKind rule : {OptimizerKind::adam, OptimizerKind::armijo, OptimizerKind::mirror}) {
    SolverConfig c;
    c.optimizer = rule;
    c.iterations = 200;
    c.weights = {0.9, 0.1, 1.0, 0.1};
    const SolveResult exact = solve(g, c);
    INFO(to_string(rule));
    CHECK(exact.final_terms.consistency < 1e-28);
    c.exact_consistency = false;
    const SolveResult penalty = solve(g, c);
    CHECK(penalty.final_terms.consistency > 1e-8);  // ρ1 g^CS trades consistency against F
  }
}

TEST_CASE("armijo reaches KKT points: the residual falls below the tolerance and the run stops", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 1));
  for (SolverKind kind : {SolverKind::mesob_omo, SolverKind::mf_omo, SolverKind::mfc}) {
    for (OptimizerKind rule : {OptimizerKind::armijo, OptimizerKind::mirror}) {
      SolverConfig c;
      c.kind = kind;
      c.optimizer = rule;
      c.iterations = 20000;
      c.tol = 1e-7;
      c.multiplier_every = 0;  // KKT points of f itself (mf-omo's default moves multipliers, tested below)
      const SolveResult r = solve(g, c);
      INFO(to_string(kind) << " " << to_string(rule) << ": residual " << r.residual << " after " << r.iterations_run);
      CHECK(r.history.back().iteration == r.iterations_run);
      CHECK(r.history.back().residual == r.residual);
      CHECK(r.history.front().residual > 1e-3);  // the uniform start is not stationary
      // Entropic mirror descent moves d multiplicatively, so coordinates headed for 0 shrink
      // geometrically and the Euclidean residual falls slowly once the answer is on the boundary (the
      // OMO families here): it converges only where d stays interior or the objective is simple (mfc).
      if (rule == OptimizerKind::mirror && kind != SolverKind::mfc) {
        CHECK(r.residual < 1e-2 * r.history.front().residual);
        continue;
      }
      CHECK(r.converged);
      CHECK(r.residual <= 1e-7);
      CHECK(r.iterations_run < c.iterations);
    }
  }
  // Without a tolerance every iteration runs and `converged` compares the residual with 0.
  SolverConfig c;
  c.iterations = 30;
  const SolveResult r = solve(g, c);
  CHECK(r.iterations_run == 30);
  CHECK_FALSE(r.converged);
  // OMD and FP measure optimality by exploitability.
  c.kind = SolverKind::fp;
  c.tol = 0.05;
  c.iterations = 5000;
  const SolveResult fp = solve(g, c);
  CHECK(fp.residual == fp.exploitability);
  CHECK(fp.converged);
  CHECK(fp.iterations_run < 5000);
}

TEST_CASE("the augmented Lagrangian makes z·d the exploitability: equilibrium and budgets are met", "[mesob]") {
  // One-stage paper game. MF-OMO in the penalty form stops at a KKT point that is no equilibrium
  // (exploitability ~5e-4); with multipliers the best-response equations hold exactly and z·d → 0.
  const MesobScenario sc =
      load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/mesob-paper.yaml", {"game.horizon=0"});
  const AuctionGame g(sc.game);
  SolverConfig c = sc.solver;
  c.kind = SolverKind::mf_omo;
  c.iterations = 50000;
  c.tol = 1e-9;
  c.record_every = 0;
  c.multiplier_every = 0;  // the penalty form (mf-omo's default has multipliers)
  const SolveResult penalty = solve(g, c);
  c.multiplier_every = 100;
  const SolveResult multipliers = solve(g, c);
  INFO("penalty: exploitability " << penalty.exploitability << "; multipliers: " << multipliers.exploitability << " after "
                                  << multipliers.iterations_run);
  CHECK(penalty.exploitability > 1e-4);
  CHECK(multipliers.converged);
  CHECK(multipliers.exploitability < 1e-6);
  CHECK(multipliers.final_terms.best_response < 1e-16);
  // Budgets: max F subject to exploitability <= ε lands on the budget, and F grows with ε.
  double previous_f = multipliers.welfare.value;
  for (double budget : {0.001, 0.005, 0.012}) {
    SolverConfig b = sc.solver;
    b.weights = {1.0, 0.0, 1.0, 10.0};
    b.weights.budget = budget;
    b.multiplier_every = 100;
    b.iterations = 50000;
    b.tol = 1e-6;
    b.record_every = 0;
    const SolveResult r = solve(g, b);
    INFO("budget " << budget << ": exploitability " << r.exploitability << ", F " << r.welfare.value);
    CHECK(r.converged);
    CHECK(r.exploitability == Approx(budget).epsilon(5e-3));  // active (to the 1e-6 tolerance): F still rises
    CHECK(r.welfare.value > previous_f);
    previous_f = r.welfare.value;
  }
}

TEST_CASE("mean-field control reaches the maximum of F on the one-stage paper game", "[mesob]") {
  // Lemma 4 (Appendix C.2): MFC is max V(d) subject to A_d d = b, d ≥ 0. The independent check: F of
  // every pure policy (5^3 = 125 supports of size one per state), of 3000 random mixed policies (uniform
  // on the simplices, and sparse ones on random supports) and of fictitious play's equilibrium; mfc
  // must be at least as high as all of them (to 1e-9) and a KKT point.
  const MesobScenario sc =
      load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/mesob-paper.yaml", {"game.horizon=0"});
  const AuctionGame g(sc.game);
  SolverConfig c = sc.solver;
  c.kind = SolverKind::mfc;
  c.iterations = 5000;
  c.tol = 1e-10;
  const SolveResult mfc = solve(g, c);
  INFO("mfc F " << mfc.welfare.value << ", residual " << mfc.residual << " after " << mfc.iterations_run);
  CHECK(mfc.converged);
  const int S = g.states(), A = g.actions();
  auto welfare_of_policy = [&](const Policy& pi) { return welfare_of(g, population_flow(g, pi)).value; };
  double best_pure = -1e300;
  for (int code = 0; code < 125; ++code) {
    Policy pi(g.pairs(), 0.0);
    for (int s = 0, k = code; s < S; ++s, k /= A) pi[s * A + k % A] = 1.0;
    best_pure = std::max(best_pure, welfare_of_policy(pi));
  }
  CHECK(mfc.welfare.value >= best_pure - 1e-9);
  std::mt19937_64 rng(14);
  double best_random = -1e300;
  for (int trial = 0; trial < 3000; ++trial) {
    Policy pi;
    for (int s = 0; s < S; ++s) {
      const std::vector<double> row = random_simplex(rng, A, trial % 2 == 1);
      pi.insert(pi.end(), row.begin(), row.end());
    }
    best_random = std::max(best_random, welfare_of_policy(pi));
  }
  CHECK(mfc.welfare.value >= best_random - 1e-9);
  SolverConfig fp = sc.solver;
  fp.kind = SolverKind::fp;
  fp.iterations = 3000;
  CHECK(mfc.welfare.value > solve(g, fp).welfare.value);
  // With c2 = c3 and one value v, F = (c1 + c3) ln V1 + c2 ln v up to the ε's, and V1 (clicks per
  // bidder) is at most E[max of n CTRs drawn from μ0] / n: the highest CTR in the auction wins.
  double expected_max = 0;
  for (int s = 0; s < S; ++s) {
    const double at_most = std::pow((s + 1.0) / S, g.bidders()), below = std::pow(double(s) / S, g.bidders());
    expected_max += g.ctr()[s] * (at_most - below);
  }
  CHECK(mfc.welfare.v1 == Approx(expected_max / g.bidders()).epsilon(1e-6));
}

TEST_CASE("MF-OMO, OMD and FP find the bid-max equilibrium of a high-value game", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.6}, {0.0, 2.5, 5.0}, 3, 6.0, 1));
  for (SolverKind kind : {SolverKind::mf_omo, SolverKind::omd, SolverKind::fp}) {
    SolverConfig c;
    c.kind = kind;
    c.iterations = kind == SolverKind::mf_omo ? 10000 : 2000;
    c.lr = kind == SolverKind::mf_omo ? 0.01 : 1.0;
    const SolveResult r = solve(g, c);
    INFO(to_string(kind));
    CHECK(r.exploitability < 0.02);
  }
}

TEST_CASE("OMD's line-searched step converges whatever lr; the fixed step depends on lr", "[mesob]") {
  // Paper game, t = 0..1. The default rule (armijo) backtracks on exploitability, so every accepted step
  // lowers it and no step size has to match the reward scale; `gradient` keeps the fixed step lr, which
  // crawls at lr 1e-3 and cycles at lr 100 (measured: exploitability 0.10 and 0.047 after 3000 steps).
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 1));
  for (double lr : {1e-3, 1.0, 1e3, 1e6}) {
    SolverConfig c;
    c.kind = SolverKind::omd;
    c.lr = lr;
    c.iterations = 3000;
    c.tol = 1e-8;
    c.record_every = 1;
    const SolveResult r = solve(g, c);
    INFO("lr " << lr << ": exploitability " << r.exploitability << " after " << r.iterations_run);
    CHECK(r.converged);
    CHECK(r.exploitability <= 1e-8);
    CHECK(r.iterations_run < c.iterations);
    REQUIRE(r.history.size() == static_cast<std::size_t>(r.iterations_run) + 1);
    for (std::size_t k = 1; k < r.history.size(); ++k) CHECK(r.history[k].exploitability < r.history[k - 1].exploitability);
  }
  for (double lr : {1e-3, 100.0}) {
    SolverConfig c;
    c.kind = SolverKind::omd;
    c.optimizer = OptimizerKind::gradient;
    c.lr = lr;
    c.iterations = 3000;
    c.tol = 1e-8;
    const SolveResult r = solve(g, c);
    INFO("fixed lr " << lr << ": exploitability " << r.exploitability);
    CHECK_FALSE(r.converged);
    CHECK(r.exploitability > 1e-3);
    CHECK(r.iterations_run == c.iterations);
  }
}

TEST_CASE("FP's line-searched mixing weight converges; the classic 1/(k+1) average is kept", "[mesob]") {
  // Paper game, t = 0..1. With the default rule (armijo) every accepted mix lowers the exploitability
  // (where no weight does, FP's own 1/(k+1) step is taken, which may raise it) and the run reaches 1e-8
  // in under 300 best responses (83 measured); `gradient` keeps L̄ ← (k L̄ + Γ(BR)) / (k + 1), whose
  // exploitability falls as O(1/k): still above 1e-6 after 3000.
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 1));
  SolverConfig c;
  c.kind = SolverKind::fp;
  c.iterations = 3000;
  c.tol = 1e-8;
  c.record_every = 1;
  const SolveResult searched = solve(g, c);
  INFO("line-searched: " << searched.exploitability << " after " << searched.iterations_run);
  CHECK(searched.converged);
  CHECK(searched.iterations_run < 300);
  int lowered = 0;
  for (std::size_t k = 1; k < searched.history.size(); ++k)
    lowered += searched.history[k].exploitability < searched.history[k - 1].exploitability;
  CHECK(lowered >= static_cast<int>(searched.history.size()) / 2);  // most steps are accepted mixes
  c.optimizer = OptimizerKind::gradient;
  const SolveResult classic = solve(g, c);
  INFO("classic: " << classic.exploitability);
  CHECK_FALSE(classic.converged);
  CHECK(classic.exploitability > 1e-6);
  // The classic average after two best responses, by hand: L̄_2 = (L̄_0 + Γ(BR_0) + Γ(BR_1)) / 3.
  c.iterations = 2;
  c.tol = 0;
  const SolveResult two = solve(g, c);
  const Flow start = population_flow(g, uniform_policy(g));
  const ExploitabilityResult e0 = exploitability(g, retrieve_policy(g, start));
  const Flow f0 = population_flow(g, e0.best_response);
  Flow mid(start.size());
  for (std::size_t i = 0; i < mid.size(); ++i) mid[i] = (start[i] + f0[i]) / 2;
  const Flow f1 = population_flow(g, exploitability(g, retrieve_policy(g, mid)).best_response);
  Flow expected(start.size());
  for (std::size_t i = 0; i < mid.size(); ++i) expected[i] = (2 * mid[i] + f1[i]) / 3;
  const Policy pi = retrieve_policy(g, expected);
  REQUIRE(pi.size() == two.policy.size());
  for (std::size_t i = 0; i < pi.size(); ++i) CHECK(two.policy[i] == Approx(pi[i]).margin(1e-12));
}

TEST_CASE("the scenario defaults converge: mesob-omo, mf-omo, mfc, omd and fp on the paper game, omd, fp and mfc on "
          "the large one", "[mesob]") {
  // Each solver with the scenario's own settings (armijo, exact consistency, tol 1e-6, at most 50000
  // iterations on mesob-paper and 20000 on mesob-large; mf-omo with multipliers every 20 steps) must stop
  // at its tolerance before the cap, and the equilibrium solvers at an equilibrium. mesob-omo on
  // mesob-large also converges (5854 iterations at t = 0..9, docs/mesob-solvers.md) but takes minutes.
  const std::string dir = std::string(BIDSIM_SOURCE_DIR) + "/scenarios/";
  struct Case {
    std::string scenario;
    int horizon;
    std::vector<SolverKind> kinds;
  };
  const std::vector<SolverKind> paper = {SolverKind::mesob_omo, SolverKind::mf_omo, SolverKind::mfc, SolverKind::omd,
                                        SolverKind::fp};
  const std::vector<Case> cases = {{"mesob-paper.yaml", 0, paper},
                                   {"mesob-paper.yaml", 1, paper},
                                   {"mesob-paper.yaml", 9, paper},
                                   {"mesob-large.yaml", 0, {SolverKind::mfc, SolverKind::omd, SolverKind::fp}},
                                   {"mesob-large.yaml", 9, {SolverKind::mfc, SolverKind::omd, SolverKind::fp}}};
  for (const Case& k : cases) {
    const MesobScenario sc = load_mesob_scenario(dir + k.scenario, {"game.horizon=" + std::to_string(k.horizon)});
    const AuctionGame g(sc.game);
    for (SolverKind kind : k.kinds) {
      SolverConfig c = sc.solver;
      c.kind = kind;
      c.record_every = 0;
      const SolveResult r = solve(g, c);
      INFO(k.scenario << " t = 0.." << k.horizon << ", " << to_string(kind) << ": residual " << r.residual << " after "
                      << r.iterations_run << " of " << c.iterations);
      CHECK(c.tol == 1e-6);
      CHECK(r.converged);
      CHECK(r.iterations_run < c.iterations);
      if (kind == SolverKind::omd || kind == SolverKind::fp || kind == SolverKind::mf_omo) CHECK(r.exploitability <= 1e-6);
    }
  }
}

TEST_CASE("the heuristic keeps α a distribution and is deterministic", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 0));
  SolverConfig c;
  c.kind = SolverKind::heuristic;
  c.heuristic.rounds = 200;
  c.heuristic.runs = 5;
  const SolveResult a = solve(g, c), b = solve(g, c);
  double total = 0;
  for (int k = 0; k < g.actions(); ++k) total += a.policy[k];
  CHECK(total == Approx(1.0));
  CHECK(a.policy == b.policy);
  // All mass on one bid: every simulated winning bid is that bid, so α stays put.
  const AuctionGame one(tiny_config({0.5}, {1.0, 2.0}, 2, 2.0, 0));
  c.heuristic.initial_variance = 1e-6;
  c.heuristic.initial_mean = 2.0;
  const SolveResult r = solve(one, c);
  CHECK(r.policy[1] == Approx(1.0).margin(1e-9));
}

TEST_CASE("a batch equals the configurations solved one by one", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 2));
  std::vector<SolverConfig> configs;
  for (double l1 : {0.0, 0.5, 1.0}) {
    SolverConfig c;
    c.weights.lambda1 = l1;
    c.weights.lambda2 = 1 - l1 + 0.1;
    c.iterations = 100;
    configs.push_back(c);
  }
  const std::vector<SolveResult> batch = solve_batch(g, configs, 2);
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const SolveResult one = solve(g, configs[i]);
    CHECK(batch[i].policy == one.policy);
    CHECK(batch[i].exploitability == one.exploitability);
  }
}

TEST_CASE("the host OMO batch engine reproduces solve() bit for bit", "[mesob]") {
  // The host reference runs the per-thread body of the CUDA kernel (omo_advance on one state block per
  // configuration); the driver reads d and the terms back at the union of the record points. Same code,
  // same order of operations, so the results must equal solve()'s to the bit.
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 2));
  const std::vector<SolverConfig> configs = mixed_omo_configs();
  const auto engine = make_host_omo_batch(g, omo_step_configs(configs), 2);
  CHECK(std::string(engine->name()) == "host");
  const std::vector<SolveResult> batch = solve_omo_batch(g, configs, *engine, 2);
  REQUIRE(batch.size() == configs.size());
  for (std::size_t i = 0; i < configs.size(); ++i) {
    INFO("configuration " << i << ": " << to_string(configs[i].kind) << " " << to_string(configs[i].optimizer) << ", "
                          << configs[i].iterations << " iterations, record every " << configs[i].record_every);
    const SolveResult one = solve(g, configs[i]);
    check_identical(batch[i], one);
    CHECK(batch[i].iterations_run == one.iterations_run);
    CHECK(batch[i].converged == one.converged);
    CHECK(batch[i].history.back().iteration == one.iterations_run);
    if (configs[i].tol == 0) CHECK(one.iterations_run == configs[i].iterations);
  }
  // The engine's iterates after the run: d as read, y inside the ball, z in Z.
  std::vector<double> y, z, d, d_read;
  std::vector<OmoTerms> terms;
  engine->read_iterates(y, z, d);
  engine->read(d_read, terms);
  CHECK(same_bits(d, d_read));
  CHECK(y.size() == configs.size() * g.slices() * g.states());
  CHECK(z.size() == d.size());
  CHECK(std::all_of(z.begin(), z.end(), [](double v) { return v >= 0.0; }));
  // Only OMO solvers batch.
  std::vector<SolverConfig> wrong = configs;
  wrong[1].kind = SolverKind::fp;
  CHECK_THROWS_AS(solve_omo_batch(g, wrong, *engine, 2), std::invalid_argument);
}

TEST_CASE("Device::cuda for mesob without a CUDA build or device is one UsageError, auto stays on the CPU", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 2));
  std::vector<SolverConfig> configs = mixed_omo_configs();
  // A small batch never goes to the device on auto, device or not.
  CHECK(resolve_device(Device::automatic, configs) == Device::cpu);
  CHECK(resolve_device(Device::cpu, configs) == Device::cpu);
  if (cuda_device_present()) {
    CHECK(resolve_device(Device::cuda, configs) == Device::cuda);
    return;
  }
  try {
    solve_batch(g, configs, 2, Device::cuda);
    FAIL("--device cuda succeeded without a device");
  } catch (const UsageError& e) {
    const std::string message = e.what();
    CHECK(message.find("--device cuda") == 0);
    CHECK(message.find('\n') == std::string::npos);
    CHECK((message.find("no CUDA device") != std::string::npos ||
           message.find("built without the CUDA backend") != std::string::npos));
  }
  CHECK_THROWS_AS(make_cuda_omo_batch(g, omo_step_configs(configs)), UsageError);
  // auto with a batch above the threshold still runs (on the CPU), identical to the CPU path.
  configs.resize(kAutoDeviceMinConfigs, configs.front());
  for (SolverConfig& c : configs) c.iterations = 5;
  const std::vector<SolveResult> automatic = solve_batch(g, configs, 2, Device::automatic);
  const std::vector<SolveResult> cpu = solve_batch(g, configs, 2, Device::cpu);
  for (std::size_t i = 0; i < configs.size(); ++i) {
    CHECK(automatic[i].device == Device::cpu);
    CHECK(same_bits(automatic[i].policy, cpu[i].policy));
  }
}

TEST_CASE("CUDA OMO batch equals the CPU solvers on the paper game", "[mesob][cuda]") {
  if (!cuda_device_present()) {
    WARN("no CUDA device: skipped");
    return;
  }
  // Tolerances. The device runs the same omo_kernel.hpp code with FMA contraction off on both sides
  // (g++ -std=c++17, nvcc --fmad=false); + − × ÷ and sqrt are correctly rounded on both. What differs is
  // libm: log (welfare F only; the gradient uses no log, so it moves F and the objective by ulps and
  // never the iterates) and pow in Adam's bias corrections 1 − β^k, which does move the iterates.
  //  * Projected gradient: iterates, policies and exploitability are expected bit-identical; F and the
  //    objective within 1e-12 relative.
  //  * Projected Adam: Adam rescales tiny gradient components to lr-sized steps, so a pow ulp grows.
  //    Perturbing every pow on the CPU by 2 ulp (CUDA's documented bound) moved d by at most 9e-8,
  //    policies by 3e-7, exploitability by 4e-8 and the objective by 3e-7 relative after 200 iterations
  //    of this game (5e-5 after 1500), so 200 iterations are compared with 1e-5: 30x that worst case,
  //    far below what a wrong index or a missing term changes (1e-3 and up).
  const MesobScenario sc = load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/mesob-paper.yaml");
  const AuctionGame g(sc.game);
  std::vector<SolverConfig> configs;
  const double lambda1[] = {0.0, 0.3, 0.7, 1.0};
  for (int i = 0; i < 16; ++i) {
    SolverConfig c = sc.solver;
    c.kind = i == 14 ? SolverKind::mf_omo : i == 15 ? SolverKind::mfc : SolverKind::mesob_omo;
    c.weights.lambda1 = lambda1[i % 4];
    c.weights.lambda2 = 0.25 * (i / 4) + 0.1;
    c.optimizer = i % 2 ? OptimizerKind::gradient : OptimizerKind::adam;
    c.lr = c.optimizer == OptimizerKind::adam ? (i % 4 == 0 ? 0.003 : 0.01) : 0.003;
    c.iterations = i == 5 ? 150 : 200;  // one configuration stops early
    c.record_every = 50;
    configs.push_back(c);
  }
  const std::vector<SolveResult> cpu = solve_batch(g, configs, 2, Device::cpu);
  const std::vector<SolveResult> gpu = solve_batch(g, configs, 2, Device::cuda);
  auto close = [](double a, double b, double rel, double abs) {
    return std::fabs(a - b) <= abs + rel * std::max(std::fabs(a), std::fabs(b));
  };
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const bool adam = configs[i].optimizer == OptimizerKind::adam;
    const double rel = adam ? 1e-5 : 1e-12, abs = adam ? 1e-5 : 1e-14;
    const SolveResult &c = cpu[i], &d = gpu[i];
    INFO("configuration " << i << ": " << to_string(configs[i].kind) << " " << to_string(configs[i].optimizer)
                          << " λ1 " << configs[i].weights.lambda1 << " λ2 " << configs[i].weights.lambda2);
    CHECK(d.device == Device::cuda);
    REQUIRE(c.policy.size() == d.policy.size());
    for (std::size_t k = 0; k < c.policy.size(); ++k) CHECK(close(c.policy[k], d.policy[k], 0, adam ? 1e-5 : 0));
    CHECK(close(c.exploitability, d.exploitability, 0, adam ? 1e-5 : 0));
    CHECK(close(c.welfare.value, d.welfare.value, rel, abs));
    CHECK(close(c.final_terms.objective, d.final_terms.objective, rel, abs));
    CHECK(close(c.final_terms.consistency, d.final_terms.consistency, rel, abs));
    CHECK(close(c.final_terms.best_response, d.final_terms.best_response, rel, abs));
    CHECK(close(c.final_terms.complementarity, d.final_terms.complementarity, rel, abs));
    REQUIRE(c.history.size() == d.history.size());
    for (std::size_t k = 0; k < c.history.size(); ++k) {
      INFO("record at iteration " << c.history[k].iteration);
      CHECK(c.history[k].iteration == d.history[k].iteration);
      CHECK(close(c.history[k].objective, d.history[k].objective, rel, abs));
      CHECK(close(c.history[k].exploitability, d.history[k].exploitability, rel, abs));
      CHECK(close(c.history[k].welfare, d.history[k].welfare, rel, abs));
      CHECK(close(c.history[k].consistency, d.history[k].consistency, rel, abs));
      CHECK(close(c.history[k].best_response, d.history[k].best_response, rel, abs));
    }
  }
  // Run after run the device gives the same bits (one thread per configuration, no atomics).
  const std::vector<SolveResult> again = solve_batch(g, configs, 2, Device::cuda);
  for (std::size_t i = 0; i < configs.size(); ++i) check_identical(gpu[i], again[i]);
}

TEST_CASE("CUDA OMO batch, a warp per configuration: every step rule as solve() computes it, state in shared or in global memory", "[mesob][cuda]") {
  if (!cuda_device_present()) {
    WARN("no CUDA device: skipped");
    return;
  }
  // The device's 32 lanes split each step's vector work and the CPU's one thread runs the same lane
  // contract (omo_kernel.hpp: per-entry values in the serial order of operations, sums in serial order
  // on one lane), so the two agree bit for bit wherever they share a libm. That is the emulator (the
  // host's log and pow): every rule, multipliers, a budget and a tolerance stop are compared to the bit.
  // On a GPU, CUDA's log and pow move F, the objective and Adam's bias corrections by ulps (see the test
  // above), and the Armijo test compares objectives; the projected-gradient rule's iterates use neither,
  // so its policies and flows must still be identical there.
  struct Case {
    std::string what;
    AuctionGame game;
    std::vector<SolverConfig> configs;
  };
  std::vector<Case> cases;
  cases.push_back({"tiny game, mixed configurations", AuctionGame(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 2)),
                   mixed_omo_configs()});
  // mesob-large at t = 0..9: 400 pairs, a state of about 1 MB, beyond one block's 227 KB of shared memory,
  // so the kernel steps it in global memory; the paper-sized game above runs from shared memory.
  const MesobScenario large = load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/mesob-large.yaml");
  std::vector<SolverConfig> few;
  for (OptimizerKind rule : {OptimizerKind::gradient, OptimizerKind::armijo, OptimizerKind::adam}) {
    SolverConfig c = large.solver;
    c.kind = SolverKind::mesob_omo;
    c.optimizer = rule;
    c.lr = 0.004;
    c.iterations = 4;
    c.record_every = 2;
    few.push_back(c);
  }
  cases.push_back({"mesob-large, state in global memory", AuctionGame(large.game), few});
  constexpr std::size_t kSharedOptinBytes = 232448;  // an H100/H200 block's opt-in shared memory
  CHECK(omo_state_size(omo_problem(cases[0].game)) * sizeof(double) <= kSharedOptinBytes);
  CHECK(omo_state_size(omo_problem(cases[1].game)) * sizeof(double) > kSharedOptinBytes);
  for (const Case& k : cases) {
    const auto engine = make_cuda_omo_batch(k.game, omo_step_configs(k.configs));
    CHECK(std::string(engine->name()) == "cuda");
    const std::vector<SolveResult> device = solve_omo_batch(k.game, k.configs, *engine, 2);
    REQUIRE(device.size() == k.configs.size());
    for (std::size_t i = 0; i < k.configs.size(); ++i) {
      INFO(k.what << ", configuration " << i << ": " << to_string(k.configs[i].kind) << " "
                  << to_string(k.configs[i].optimizer) << ", " << k.configs[i].iterations << " iterations");
      const SolveResult one = solve(k.game, k.configs[i]);
#ifdef BIDSIM_CUDA_EMULATION
      check_identical(device[i], one);
      CHECK(device[i].iterations_run == one.iterations_run);
      CHECK(device[i].converged == one.converged);
#else
      if (k.configs[i].optimizer == OptimizerKind::gradient && k.configs[i].multiplier_every <= 0) {
        CHECK(same_bits(device[i].policy, one.policy));
        CHECK(same_bits(device[i].flow, one.flow));
      }
#endif
    }
  }
}

TEST_CASE("bridge: the engine's sparse market reproduces eqs. (8)-(9)", "[mesob]") {
  const AuctionGame g(tiny_config({0.2, 0.4, 0.6}, {0.0, 1.25, 2.5, 3.75, 5.0}, 5, 2.0, 1));
  std::mt19937_64 rng(21);
  Policy pi;
  for (int row = 0; row < g.slices() * g.states(); ++row) {
    const std::vector<double> r = random_simplex(rng, g.actions());
    pi.insert(pi.end(), r.begin(), r.end());
  }
  BridgeConfig c;
  c.agents = 4000;
  c.impressions = 20000;
  c.envs = 2;
  const BridgeResult b = run_bridge(g, pi, c, 1, 2);
  int compared = 0;
  for (const BridgeRow& row : b.rows) {
    if (!row.compared) continue;
    ++compared;
    INFO("pair " << row.state << "," << row.action << " win " << row.win_rate << " vs " << row.win_rate_closed);
    // Sampling error plus the O(n/N) bias of drawing candidates without replacement.
    CHECK(std::fabs(row.win_rate - row.win_rate_closed) < 5 * row.win_rate_se + 0.002);
    CHECK(std::fabs(row.payment - row.payment_closed) < 5 * row.payment_se + 0.002);
  }
  CHECK(compared == 12);  // 3 states x 4 positive bids
}

TEST_CASE("mesob scenarios load and bad input is one clear error", "[mesob]") {
  const MesobScenario sc = load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/mesob-paper.yaml");
  CHECK(sc.game.ctr == std::vector<double>{0.2, 0.4, 0.6});
  CHECK(sc.game.bidders == 5);
  const MesobScenario large = load_mesob_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/mesob-large.yaml");
  CHECK(large.game.ctr.size() == 20);
  CHECK(large.game.ctr.front() == Approx(0.01));
  CHECK(large.game.ctr.back() == Approx(1.0));
  CHECK(large.game.bids.size() == 20);
  CHECK(large.game.bidders == 30);

  const std::string base = "game: {ctr: [0.2, 0.4], bids: [0, 1, 2], bidders: 3}\n";
  CHECK_NOTHROW(parse_mesob_scenario(base, "t.yaml"));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {base + "bogus: 1\n", "t.yaml: bogus: unknown key"},
      {"game: {ctr: [0.2, 1.5], bids: [0, 1]}\n", "t.yaml: game.ctr[1]: got 1.5"},
      {"game: {ctr: [0.4, 0.2], bids: [0, 1]}\n", "strictly increasing"},
      {"game: {ctr: [0.2], bids: [0, 1], bidders: 1}\n", "game.bidders: got 1"},
      {"game: {ctr: [0.2], bids: [0, .nan]}\n", "game.bids[1]"},
      {"game: {ctr: [0.2, 0.4], bids: [0, 1], ctr_distribution: [1]}\n", "one weight per CTR level"},
      {"game: {ctr: [0.2], bids: [0, 1], value: 2, types: [{value: 3}]}\n", "either value"},
      {base + "welfare: {epsilon: [1, 2]}\n", "expected 4"},
      {base + "solver: {method: newton}\n", "one of mesob-omo"},
      {base + "pareto: {lambda1: [0], lambda2: [0]}\n", "at least one positive"},
      {"game: [1, 2]\n", "expected a map"},
      {"game: {ctr: [0.2], bids: [0, 1]\n", "malformed YAML"},
  };
  for (const auto& [text, expected] : bad) {
    INFO(text);
    try {
      parse_mesob_scenario(text, "t.yaml");
      FAIL("no error");
    } catch (const ScenarioError& e) {
      CHECK_THAT(e.what(), Catch::Contains(expected));
    }
  }
  CHECK_THROWS_AS(load_mesob_scenario("/nonexistent/mesob.yaml"), ScenarioError);
}
