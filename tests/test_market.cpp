// Whole-market properties: random file markets against a brute-force reference auction, invariants
// of random procedural markets (sizes 1, 2, 31, 32, 33, zero impressions), sparse candidates,
// determinism across runs / threads / seeds / episodes, built-in policies and the simulate driver.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/errors.hpp"
#include "engine/core/physics.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/simulate.hpp"
#include "test_support.hpp"

using bidsim_test::FileMarket;
using bidsim_test::Market;
using bidsim_test::ValueRow;

namespace {

std::vector<float> pattern(int E, int N, int t);  // fixed pseudo-random multipliers (below)

// ----- brute-force reference for file markets with deterministic exposure and truncation --------

struct RefConfig {
  int agents = 1, slots = 1, steps = 1, impressions = 1;
  double reserve = 0.0, floor = 0.0;
  bool unsold_at_reserve = false, cascade = false, charge_on_exposure = false;
  std::vector<double> exposure;  // each 0 or 1
  std::vector<double> budget;
};

// Exact money of the reference, written independently of engine/core/money.hpp: ticks of 2^-24 by llrint
// (the default rounding mode: nearest, ties to even), one amount capped at 2^40 ticks.
long long ref_ticks(double x) { return x > 0.0 ? std::min(std::llrint(x * 16777216.0), 1LL << 40) : 0; }
long long ref_budget_ticks(double x) { return std::llrint(x * 16777216.0); }
double ref_units(long long ticks) { return static_cast<double>(ticks) / 16777216.0; }

struct RefStep {
  std::vector<long long> cost, value;  // exact money ticks
  std::vector<int> wins, exposures, bids;
  int voided = 0;  // wins removed by the truncate rule
};

// One step of the reference market: full sort per impression, pay-next-bid, truncate overspend.
RefStep reference_step(const RefConfig& c, const std::vector<ValueRow>& rows, int t,
                       const std::vector<float>& multiplier, std::vector<long long>& remaining) {
  const int N = c.agents, S = c.slots;
  struct Win { int agent; long long price; float value; bool exposed; };
  std::vector<std::vector<Win>> outcome;  // [impression] sold slots in slot order
  RefStep r;
  r.cost.assign(N, 0);
  r.value.assign(N, 0);
  r.wins.assign(N, 0);
  r.exposures.assign(N, 0);
  r.bids.assign(N, 0);
  std::vector<bool> active(N);
  for (int i = 0; i < N; ++i) active[i] = remaining[i] >= ref_budget_ticks(c.floor) && remaining[i] > 0;
  int M = 0;
  for (const ValueRow& row : rows)
    if (row.step == t) M = std::max(M, row.impression + 1);
  for (int j = 0; j < M; ++j) {
    struct Bid { float bid, value; int agent; };
    std::vector<Bid> bids;
    for (const ValueRow& row : rows) {
      if (row.step != t || row.impression != j || !active[row.agent]) continue;
      const float m = multiplier[row.agent] > 0.0f ? multiplier[row.agent] : 0.0f;
      const float b = m * row.value;
      if (b > 0.0f && static_cast<double>(b) >= c.reserve) {
        bids.push_back({b, row.value, row.agent});
        ++r.bids[row.agent];
      }
    }
    std::sort(bids.begin(), bids.end(), [](const Bid& x, const Bid& y) { return x.bid > y.bid; });
    std::vector<Win> sold;
    bool shown = true;
    for (int k = 0; k < S; ++k) {
      shown = (c.cascade && !shown) ? false : c.exposure[k] >= 1.0;
      if (k >= static_cast<int>(bids.size())) { sold.push_back({-1, 0, 0, false}); continue; }
      const double next = k + 1 < static_cast<int>(bids.size()) ? static_cast<double>(bids[k + 1].bid) : 0.0;
      const double price = std::max(next, c.reserve);
      if (c.unsold_at_reserve && price == c.reserve) { sold.push_back({-1, 0, 0, false}); continue; }
      sold.push_back({bids[k].agent, ref_ticks(price), bids[k].value, shown});
    }
    outcome.push_back(sold);
  }
  auto charged = [&](const Win& w) { return w.agent >= 0 && (w.exposed || !c.charge_on_exposure); };
  std::vector<long long> total(N, 0), running(N, 0);
  for (const auto& sold : outcome)
    for (const Win& w : sold)
      if (charged(w)) total[w.agent] += w.price;
  for (auto& sold : outcome)
    for (Win& w : sold) {
      if (!charged(w) || !(total[w.agent] > remaining[w.agent])) continue;
      if (running[w.agent] + w.price > remaining[w.agent]) {
        w.agent = -1;
        ++r.voided;
      } else {
        running[w.agent] += w.price;
      }
    }
  for (const auto& sold : outcome)
    for (const Win& w : sold) {
      if (w.agent < 0) continue;
      ++r.wins[w.agent];
      if (charged(w)) r.cost[w.agent] += w.price;
      if (w.exposed) {
        ++r.exposures[w.agent];
        r.value[w.agent] += ref_ticks(w.value);
      }
    }
  for (int i = 0; i < N; ++i) remaining[i] -= r.cost[i];
  return r;
}

std::string yaml_list(const std::vector<double>& v) {
  std::ostringstream o;
  o.precision(17);
  o << '[';
  for (std::size_t k = 0; k < v.size(); ++k) o << (k ? ", " : "") << v[k];
  o << ']';
  return o.str();
}

}  // namespace

TEST_CASE("random file markets match a brute-force reference auction", "[property][auction][gsp][budget][truncate]") {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> value_dist(0.05f, 2.0f);
  int cases = 0, total_wins = 0, total_voided = 0, total_exposed = 0;
  for (int N : {1, 2, 31, 32, 33}) {
    for (int M : {0, 1, 7, 40}) {
      for (int variant = 0; variant < 3; ++variant) {
        RefConfig c;
        c.agents = N;
        c.impressions = M;
        c.steps = 3;
        c.slots = 1 + static_cast<int>(rng() % std::min(N + 1, bidsim::kMaxSlots));  // may exceed N
        c.reserve = variant == 0 ? 0.0 : 0.25;
        c.unsold_at_reserve = variant == 2;
        c.cascade = rng() % 2;
        c.charge_on_exposure = rng() % 2;
        c.floor = variant == 1 ? 0.5 : 0.0;
        for (int k = 0; k < c.slots; ++k) c.exposure.push_back(k == 0 || rng() % 3 ? 1.0 : 0.0);
        for (int i = 0; i < N; ++i)
          c.budget.push_back(rng() % 3 == 0 ? 1e9 : 0.2 + 4.0 * (rng() % 1000) / 1000.0);
        // Multipliers per step: some negative (act as 0), some 0, most in (0, 2).
        std::vector<std::vector<float>> mult(c.steps, std::vector<float>(N));
        for (auto& step : mult)
          for (float& x : step) {
            const unsigned k = rng() % 10;
            x = k == 0 ? -1.0f : k == 1 ? 0.0f : std::uniform_real_distribution<float>(0.1f, 2.0f)(rng);
          }
        // Rows: each (impression, agent) present with probability 0.7; values redrawn until the
        // impression's bids are distinct, so the ranking needs no tie-break.
        std::vector<ValueRow> rows;
        for (int t = 0; t < c.steps; ++t)
          for (int j = 0; j < M; ++j) {
            std::vector<ValueRow> imp;
            for (bool distinct = false; !distinct;) {
              imp.clear();
              std::set<float> seen;
              distinct = true;
              for (int i = 0; i < N; ++i) {
                if (rng() % 10 >= 7) continue;
                const float v = value_dist(rng);
                imp.push_back({t, j, i, v});
                const float b = std::max(mult[t][i], 0.0f) * v;
                if (b > 0.0f && !seen.insert(b).second) distinct = false;
              }
            }
            rows.insert(rows.end(), imp.begin(), imp.end());
          }
        std::ostringstream yaml;
        yaml << "market: {envs: 2, steps: " << c.steps << "}\n"
             << "agents: {count: " << N << ", budget: " << yaml_list(c.budget) << "}\n"
             << "mechanism: {type: gsp, slots: " << c.slots << ", reserve: " << c.reserve
             << ", unsold_at_reserve: " << (c.unsold_at_reserve ? "true" : "false")
             << ", exposure: " << yaml_list(c.exposure)
             << ", exposure_cascade: " << (c.cascade ? "true" : "false")
             << ", charge: " << (c.charge_on_exposure ? "on_exposure" : "on_win") << "}\n"
             << "budget: {floor: " << c.floor << ", overspend: truncate}\n";
        FileMarket m(yaml.str(), rows);
        std::vector<long long> remaining;
        for (double b : c.budget) remaining.push_back(ref_budget_ticks(b));
        for (int t = 0; t < c.steps; ++t) {
          const RefStep want = reference_step(c, rows, t, mult[t], remaining);
          total_voided += want.voided;
          total_wins += std::accumulate(want.wins.begin(), want.wins.end(), 0);
          total_exposed += std::accumulate(want.exposures.begin(), want.exposures.end(), 0);
          const auto& s = m->step(mult[t]);
          for (int e = 0; e < 2; ++e)
            for (int i = 0; i < N; ++i) {
              INFO("N=" << N << " M=" << M << " variant=" << variant << " slots=" << c.slots
                        << " step=" << t << " env=" << e << " agent=" << i);
              const std::size_t a = m->a(e, i);
              CHECK(s.step_bid_count[a] == want.bids[i]);
              CHECK(s.step_wins[a] == want.wins[i]);
              CHECK(s.step_exposures[a] == want.exposures[i]);
              // Exact money: the same integers, and their conversions, bit for bit.
              CHECK(s.step_cost_money[a] == want.cost[i]);
              CHECK(s.step_value_money[a] == want.value[i]);
              CHECK(s.remaining_money[a] == remaining[i]);
              CHECK(s.step_cost[a] == ref_units(want.cost[i]));
              CHECK(s.step_value[a] == ref_units(want.value[i]));
              CHECK(s.remaining_budget[a] == ref_units(remaining[i]));
              CHECK(s.remaining_budget[a] >= 0.0);
            }
        }
        ++cases;
      }
    }
  }
  CHECK(cases == 60);
  // The random cases exercised what they are meant to.
  CHECK(total_wins > 1000);
  CHECK(total_voided > 20);
  CHECK(total_exposed < total_wins);
}

// ----- invariants of random procedural markets ---------------------------------------------------

namespace {

struct RandomMarket {
  std::string yaml;
  int slots = 1;
  bool all_exposed = true, charge_on_exposure = false, utility = false;
  int max_passes = 64;
};

RandomMarket random_market(std::mt19937& rng, int N, int M, int categories, bool sparse) {
  RandomMarket r;
  const int K = sparse ? 1 + static_cast<int>(rng() % N) : N;
  r.slots = 1 + static_cast<int>(rng() % std::min(K, bidsim::kMaxSlots));
  std::vector<double> exposure;
  for (int k = 0; k < r.slots; ++k) {
    const double p = rng() % 2 ? 1.0 : 0.5;
    exposure.push_back(p);
    r.all_exposed = r.all_exposed && p >= 1.0;
  }
  r.charge_on_exposure = rng() % 2;
  r.utility = rng() % 2;
  r.max_passes = rng() % 2 ? 64 : 2;
  const bool truncate = rng() % 2;
  std::ostringstream y;
  y << "seed: " << rng() % 1000 << "\n"
    << "market: {envs: 3, steps: 4}\n"
    << "agents: {count: " << N << ", categories: " << categories
    << ", budget: {uniform: [0.5, 20]}, value_scale: {uniform: [0.5, 1.5]}}\n"
    << "impressions: {per_step: " << M << "}\n"
    << "values: {model: procedural, distribution: "
    << (rng() % 3 == 0 ? "uniform" : rng() % 2 ? "exponential" : "lognormal") << ", cross_category: 0.5}\n";
  if (sparse)
    y << "candidates: {mode: sparse, per_impression: " << K << "}\n";
  y << "mechanism: {type: gsp, slots: " << r.slots << ", exposure: [";
  for (int k = 0; k < r.slots; ++k) y << (k ? ", " : "") << exposure[k];
  y << "], exposure_cascade: " << (rng() % 2 ? "true" : "false")
    << ", charge: " << (r.charge_on_exposure ? "on_exposure" : "on_win")
    << ", reserve: " << (rng() % 2 ? 0.0 : 0.2) << ", unsold_at_reserve: " << (rng() % 2 ? "true" : "false")
    << "}\n"
    << "budget: {floor: " << (rng() % 2 ? 0.0 : 0.3) << ", overspend: " << (truncate ? "truncate" : "auctionnet")
    << ", max_passes: " << r.max_passes << "}\n"
    << "reward: " << (r.utility ? "utility" : "value") << "\n";
  r.yaml = y.str();
  return r;
}

}  // namespace

TEST_CASE("random procedural markets keep every invariant", "[property][budget][auction]") {
  std::mt19937 rng(77);
  int overspend_steps = 0, inactive = 0, wins_total = 0;
  for (int N : {1, 2, 31, 32, 33}) {
    for (int M : {0, 1, 37, 200}) {
      for (int variant = 0; variant < 2; ++variant) {
        const bool sparse = variant == 1;
        const int categories = N >= 3 ? 3 : 1;
        const RandomMarket rm = random_market(rng, N, M, categories, sparse);
        INFO(rm.yaml);
        Market m(rm.yaml, {}, 1 + static_cast<int>(rng() % 3));
        const auto& budget = m.scenario().agents.budget;
        const int E = m.envs(), S = rm.slots;
        std::vector<std::int64_t> wins_sum(static_cast<std::size_t>(E) * N, 0);
        for (int t = 0; t < 4; ++t) {
          std::vector<float> mult(static_cast<std::size_t>(E) * N);
          for (float& x : mult) x = std::uniform_real_distribution<float>(-0.5f, 2.5f)(rng);
          const std::vector<double> before = m.state().remaining_budget;
          const auto& s = m.step_raw(mult);
          for (int e = 0; e < E; ++e) {
            INFO("step " << t << " env " << e);
            CHECK(s.impressions[static_cast<std::size_t>(e) * 4 + t] == M);
            const int passes = s.passes[static_cast<std::size_t>(e) * 4 + t];
            overspend_steps += passes >= 2;
            CHECK(passes >= 1);
            CHECK(passes <= rm.max_passes + 1);
            std::int64_t slot_wins = 0;
            double cost_sum = 0;
            for (int i = 0; i < N; ++i) {
              const std::size_t a = m.a(e, i);
              INFO("agent " << i);
              wins_sum[a] += s.step_wins[a];
              slot_wins += s.step_wins[a];
              wins_total += s.step_wins[a];
              cost_sum += s.cost[a];
              CHECK(s.remaining_budget[a] >= 0.0);
              CHECK(s.cost[a] <= budget[i] * (1 + 1e-12) + 1e-12);
              CHECK(s.step_cost[a] <= before[a] * (1 + 1e-12) + 1e-12);
              CHECK(s.step_cost[a] >= 0.0);
              CHECK(s.step_value[a] >= 0.0);
              CHECK(s.step_exposures[a] >= 0);
              CHECK(s.step_wins[a] >= s.step_exposures[a]);
              CHECK(s.step_conversions[a] <= s.step_exposures[a]);
              CHECK(s.step_wins[a] <= s.step_bid_count[a]);  // a win needs a bid, one slot per impression
              CHECK(s.step_bid_count[a] <= M);
              CHECK(s.wins[a] == wins_sum[a]);
              CHECK(s.wins[a] >= s.exposures[a]);
              CHECK(s.step_multiplier[a] == std::max(mult[a], 0.0f));
              const bool active = before[a] >= m.scenario().budget.floor && before[a] > 0.0;
              if (!active) {
                ++inactive;
                CHECK(s.step_bid_count[a] == 0);
                CHECK(s.step_wins[a] == 0);
              }
              if (rm.charge_on_exposure && s.step_exposures[a] == 0) CHECK(s.step_cost[a] == 0.0);
              if (rm.all_exposed && !rm.charge_on_exposure) {
                // Every win is shown, so price <= own bid sums to cost <= multiplier x value.
                CHECK(s.step_cost[a] <= s.step_multiplier[a] * s.step_value[a] * (1 + 1e-6) + 1e-9);
              }
              const double want_reward = rm.utility ? s.step_value[a] - s.step_cost[a] : s.step_value[a];
              CHECK(s.step_reward[a] == Approx(want_reward).margin(1e-12));
            }
            CHECK(slot_wins <= static_cast<std::int64_t>(M) * S);
            CHECK(s.revenue[e] == Approx(cost_sum).epsilon(1e-9).margin(1e-12));
          }
        }
      }
    }
  }
  CHECK(overspend_steps > 10);
  CHECK(inactive > 10);
  CHECK(wins_total > 10000);
}

TEST_CASE("dense truthful second price sells every impression to someone", "[property][auction]") {
  // Lognormal values are positive, so with multiplier 1 and no reserve every impression is sold.
  const std::string yaml = R"(
market: {envs: 2, steps: 3}
agents: {count: 32, budget: 1e9}
impressions: {per_step: 500}
mechanism: {type: second_price}
)";
  Market m(yaml);
  for (int t = 0; t < 3; ++t) {
    const auto& s = m.step_all(1.0f);
    for (int e = 0; e < 2; ++e) {
      std::int64_t wins = 0;
      for (int i = 0; i < 32; ++i) {
        wins += s.step_wins[m.a(e, i)];
        CHECK(s.step_bid_count[m.a(e, i)] == 500);
        // Truthful second price: pay at most the value won (utility >= 0).
        CHECK(s.step_cost[m.a(e, i)] <= s.step_value[m.a(e, i)] * (1 + 1e-6));
      }
      CHECK(wins == 500);
    }
  }
}

// ----- procedural values -----------------------------------------------------------------------

TEST_CASE("procedural values: noise has mean 1, scaled by value_scale", "[values][procedural]") {
  // A lone bidder wins every impression at the zero reserve, so step_value / M is the mean value.
  const int M = 20000;
  for (const char* dist : {"lognormal", "uniform", "exponential"}) {
    INFO(dist);
    Market m(std::string("market: {steps: 1}\nagents: {count: 1, budget: 1e9, value_scale: 3}\n"
                         "impressions: {per_step: 20000}\nvalues: {model: procedural, sigma: 0.5, distribution: ") +
             dist + "}\n");
    const auto& s = m.step_all(1.0f);
    REQUIRE(s.step_wins[0] == M);
    CHECK(s.step_value[0] / M == Approx(3.0).epsilon(0.03));
    CHECK(s.step_cost[0] == 0.0);
  }
}

TEST_CASE("procedural values: cross_category scales other categories' impressions", "[values][procedural][category]") {
  // Agent 1 (category 1) sits out; agent 0 (category 0) wins everything. Half the impressions are
  // of its category (value x 1), half of the other (x 0.5): mean 0.75.
  const int M = 20000;
  Market m("market: {steps: 1}\nagents: {count: 2, categories: 2, budget: 1e9}\nimpressions: {per_step: 20000}\n"
           "values: {model: procedural, distribution: uniform, cross_category: 0.5}\n");
  const auto& s = m.step({1.0f, 0.0f});
  REQUIRE(s.step_wins[0] == M);
  CHECK(s.step_value[0] / M == Approx(0.75).epsilon(0.03));
}

TEST_CASE("procedural values: independent across agents", "[values][procedural][property]") {
  // Uniform(0, 2) values, truthful second price: value won = the max, price = the second max.
  // For n independent bidders E[max] = 2n/(n+1), E[second] = 2(n-1)/(n+1), so revenue / value =
  // (n-1)/n. Identical or correlated draws across agents would push it towards 1.
  for (int n : {2, 3, 5, 9}) {
    INFO("agents " << n);
    Market m("market: {envs: 2, steps: 2}\nagents: {count: " + std::to_string(n) +
             ", budget: 1e9}\nimpressions: {per_step: 5000}\nvalues: {model: procedural, distribution: uniform}\n");
    double value = 0, revenue = 0;
    std::vector<double> wins(n, 0.0);
    for (int t = 0; t < 2; ++t) {
      const auto& s = m.step_all(1.0f);
      for (int e = 0; e < 2; ++e)
        for (int i = 0; i < n; ++i) {
          value += s.step_value[m.a(e, i)];
          wins[i] += s.step_wins[m.a(e, i)];
        }
    }
    for (int e = 0; e < 2; ++e) revenue += m.state().revenue[e];
    CHECK(value / 20000 == Approx(2.0 * n / (n + 1)).epsilon(0.02));
    CHECK(revenue / value == Approx((n - 1.0) / n).epsilon(0.03));
    for (int i = 0; i < n; ++i) CHECK(wins[i] / 20000 == Approx(1.0 / n).epsilon(0.15));  // symmetric
  }
}

TEST_CASE("procedural values: steps and environments get fresh draws", "[values][procedural]") {
  Market m("market: {envs: 2, steps: 2}\nagents: {count: 3, budget: 1e9}\nimpressions: {per_step: 100}\n");
  const std::vector<double> first = m.step_all(1.0f).step_value;
  const std::vector<double> second = m.step_all(1.0f).step_value;
  CHECK(first != second);
  CHECK(!std::equal(first.begin(), first.begin() + 3, first.begin() + 3));
}

// Engine bug (reported): episode_setup.cpp multiplies the raw profile entry by the total without
// dividing by the profile's sum, so only a profile summing to 1 gives `total` impressions per episode
// (this one gives 100, 300, 50).
TEST_CASE("impressions: a profile splits the total, truncated per step", "[values][impressions]") {
  Market m("market: {envs: 2, steps: 3}\nagents: {count: 2}\nimpressions: {total: 100, profile: [1, 3, 0.5]}\n");
  // shares 1/4.5, 3/4.5, 0.5/4.5 of 100 -> 22.2, 66.7, 11.1 -> 22, 66, 11
  CHECK(m.state().impressions == std::vector<std::int32_t>{22, 66, 11, 22, 66, 11});
}

// Same engine bug with jitter: the shares are renormalized to their own sum (8), not to 1.
TEST_CASE("impressions: jitter changes the split per episode but keeps the total", "[values][impressions]") {
  Market m("market: {envs: 3, steps: 8}\nagents: {count: 2}\n"
           "impressions: {total: 10000, profile: [1, 1, 1, 1, 1, 1, 1, 1], jitter: {window: 2, low: 0.5, high: 1.5}}\n");
  const auto& imp = m.state().impressions;
  for (int e = 0; e < 3; ++e) {
    const long long total = std::accumulate(imp.begin() + 8 * e, imp.begin() + 8 * (e + 1), 0LL);
    CHECK(total <= 10000);
    CHECK(total > 10000 - 8);
    CHECK(imp[8 * e] == imp[8 * e + 1]);  // one factor per window of two steps
  }
  CHECK(!std::equal(imp.begin(), imp.begin() + 8, imp.begin() + 8));
}

// ----- sparse candidates ----------------------------------------------------------------------

TEST_CASE("sparse candidates: exactly K distinct agents per impression", "[candidates][sparse]") {
  // One impression per step, so step_bid_count marks the candidates of that impression.
  const std::string yaml = R"(
market: {envs: 2, steps: 200}
agents: {count: 6, budget: 1e9}
impressions: {per_step: 1}
candidates: {mode: sparse, per_impression: 3}
mechanism: {type: second_price}
)";
  Market m(yaml);
  std::vector<int> times_candidate(6, 0);
  for (int t = 0; t < 200; ++t) {
    const auto& s = m.step_all(1.0f);
    for (int e = 0; e < 2; ++e) {
      int count = 0, wins = 0;
      for (int i = 0; i < 6; ++i) {
        const int b = s.step_bid_count[m.a(e, i)];
        CHECK(b <= 1);
        count += b;
        times_candidate[i] += b;
        wins += s.step_wins[m.a(e, i)];
        if (s.step_wins[m.a(e, i)]) CHECK(b == 1);
      }
      CHECK(count == 3);
      CHECK(wins == 1);
    }
  }
  // Each agent is a candidate about K/N = half the time (400 impressions).
  for (int c : times_candidate) {
    CHECK(c > 140);
    CHECK(c < 260);
  }
}

TEST_CASE("sparse candidates: K = N picks every agent", "[candidates][sparse]") {
  const std::string yaml = R"(
market: {envs: 1, steps: 2}
agents: {count: 5}
impressions: {per_step: 300}
candidates: {mode: sparse, per_impression: 5}
mechanism: {type: gsp, slots: 2}
)";
  Market m(yaml);
  const auto& s = m.step_all(1.0f);
  for (int i = 0; i < 5; ++i) CHECK(s.step_bid_count[i] == 300);
}

TEST_CASE("sparse candidates with K = N reproduce the dense market exactly", "[candidates][sparse][determinism]") {
  // Values are keyed by (impression, agent), not by candidate position, and every rule ranks by bid,
  // so drawing all N agents as sparse candidates must give the dense market's results bit for bit,
  // overspend passes included.
  for (int N : {1, 5, 8, 13}) {
    INFO("agents " << N);
    const std::string common =
        "seed: 11\nmarket: {envs: 3, steps: 4}\nagents: {count: " + std::to_string(N) +
        ", budget: {uniform: [1, 10]}}\nimpressions: {per_step: 150}\n"
        "mechanism: {type: gsp, slots: 1, exposure: [0.8], charge: on_exposure, reserve: 0.1}\n"
        "budget: {overspend: auctionnet}\n";
    Market dense(common);
    Market sparse(common + "candidates: {mode: sparse, per_impression: " + std::to_string(N) + "}\n");
    for (int t = 0; t < 4; ++t) {
      const std::vector<float> m = pattern(3, N, t);
      dense.step_raw(m);
      sparse.step_raw(m);
    }
    CHECK(bidsim_test::state_fields(sparse.state()) == bidsim_test::state_fields(dense.state()));
    CHECK(*std::max_element(dense.state().passes.begin(), dense.state().passes.end()) >= 2);
  }
}

TEST_CASE("sparse candidates within category: only the impression's category bids and wins",
          "[candidates][sparse][category]") {
  const std::string yaml = R"(
market: {envs: 2, steps: 300}
agents: {count: 12, categories: 3, budget: 1e9}
impressions: {per_step: 1}
candidates: {mode: sparse, per_impression: 2, within_category: true}
mechanism: {type: gsp, slots: 2}
)";
  Market m(yaml);
  const auto& category = m.scenario().agents.category;
  CHECK(category == std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
  std::vector<int> impressions_of_category(3, 0);
  for (int t = 0; t < 300; ++t) {
    const auto& s = m.step_all(1.0f);
    for (int e = 0; e < 2; ++e) {
      std::set<int> bidding_categories;
      int count = 0, wins = 0;
      for (int i = 0; i < 12; ++i) {
        const std::size_t a = m.a(e, i);
        if (s.step_bid_count[a] > 0) bidding_categories.insert(category[i]);
        count += s.step_bid_count[a];
        wins += s.step_wins[a];
      }
      CHECK(count == 2);
      CHECK(wins == 2);
      REQUIRE(bidding_categories.size() == 1);
      ++impressions_of_category[*bidding_categories.begin()];
    }
  }
  for (int n : impressions_of_category) CHECK(n > 120);  // about 200 each
}

TEST_CASE("sparse candidates across categories when within_category is off", "[candidates][sparse][category]") {
  const std::string yaml = R"(
market: {envs: 1, steps: 100}
agents: {count: 12, categories: 3, budget: 1e9}
impressions: {per_step: 1}
candidates: {mode: sparse, per_impression: 4}
)";
  Market m(yaml);
  int mixed = 0;
  for (int t = 0; t < 100; ++t) {
    const auto& s = m.step_all(1.0f);
    std::set<int> cats;
    for (int i = 0; i < 12; ++i)
      if (s.step_bid_count[i] > 0) cats.insert(m.scenario().agents.category[i]);
    mixed += cats.size() > 1;
  }
  CHECK(mixed > 50);
}

TEST_CASE("dense candidates with cross_category 0: only the impression's category has value",
          "[candidates][category][values]") {
  const std::string yaml = R"(
market: {envs: 1, steps: 100}
agents: {count: 9, categories: 3, budget: 1e9}
impressions: {per_step: 1}
values: {model: procedural, cross_category: 0}
)";
  Market m(yaml);
  for (int t = 0; t < 100; ++t) {
    const auto& s = m.step_all(1.0f);
    std::set<int> cats;
    int count = 0;
    for (int i = 0; i < 9; ++i) {
      count += s.step_bid_count[i];
      if (s.step_bid_count[i] > 0) cats.insert(m.scenario().agents.category[i]);
    }
    CHECK(count == 3);
    CHECK(cats.size() == 1);
  }
}

// ----- determinism ---------------------------------------------------------------------------

namespace {

const char* kBusyMarket = R"(
seed: 5
market: {envs: 6, steps: 5}
agents: {count: 20, categories: 2, budget: {uniform: [2, 30]}, value_scale: {uniform: [0.5, 1.5]}}
impressions: {per_step: 300}
values: {model: procedural, distribution: lognormal, sigma: 0.8, cross_category: 0.5}
mechanism: {type: gsp, slots: 3, exposure: [1, 0.7, 0.5], exposure_cascade: true, charge: on_exposure, reserve: 0.05}
budget: {floor: 0.1, overspend: auctionnet}
)";

// Multipliers for step t: a fixed pseudo-random pattern, the same in every run.
std::vector<float> pattern(int E, int N, int t) {
  std::mt19937 rng(1000 + t);
  std::vector<float> m(static_cast<std::size_t>(E) * N);
  for (float& x : m) x = std::uniform_real_distribution<float>(0.2f, 3.0f)(rng);
  return m;
}

bidsim::MarketState run_episode(const std::string& yaml, int threads, std::uint64_t episode = 0,
                                const std::vector<std::string>& overrides = {}) {
  Market m(yaml, overrides, threads);
  m.sim().reset(episode);
  for (int t = 0; !m.sim().done(); ++t) m.step_raw(pattern(m.envs(), m.agents(), t));
  return m.state();
}

}  // namespace

TEST_CASE("determinism: same seed, bit-identical state after an episode", "[determinism]") {
  const bidsim::MarketState a = run_episode(kBusyMarket, 2);
  const bidsim::MarketState b = run_episode(kBusyMarket, 2);
  CHECK(bidsim_test::state_fields(a) == bidsim_test::state_fields(b));
  // The episode really exercised the overspend rule.
  CHECK(*std::max_element(a.passes.begin(), a.passes.end()) >= 2);
}

TEST_CASE("determinism: thread count does not change results", "[determinism]") {
  const bidsim::MarketState one = run_episode(kBusyMarket, 1);
  CHECK(bidsim_test::state_fields(run_episode(kBusyMarket, 2)) == bidsim_test::state_fields(one));
  CHECK(bidsim_test::state_fields(run_episode(kBusyMarket, 4)) == bidsim_test::state_fields(one));
  CHECK(bidsim_test::state_fields(run_episode(kBusyMarket, 0)) == bidsim_test::state_fields(one));
}

// With fewer environments than threads the CPU backend splits each environment's first auction
// pass and its conversion draws over the threads (impressions of >= 2048 per step); the sums still
// run in impression order, so the state must equal a one-thread run bit for bit.
TEST_CASE("determinism: one environment split over threads equals one thread", "[determinism][threads]") {
  // 7x the impressions of kBusyMarket per environment and 7x its budgets, so the overspend rule
  // still runs a handful of passes per step.
  const std::vector<std::string> larger = {"impressions.per_step=2100", "agents.budget={uniform: [14, 210]}",
                                           "market.steps=3"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), larger.begin(), larger.end());
    return extra;
  };
  for (const std::vector<std::string>& overrides :
       {with({"market.envs=1"}), with({"market.envs=2", "budget.overspend=truncate"}),
        with({"market.envs=1", "candidates.mode=sparse", "candidates.per_impression=6",
              "candidates.within_category=true"})}) {
    std::string label;
    for (const std::string& o : overrides) label += o + " ";
    INFO(label);
    const bidsim::MarketState one = run_episode(kBusyMarket, 1, 0, overrides);
    CHECK(bidsim_test::state_fields(run_episode(kBusyMarket, 3, 0, overrides)) == bidsim_test::state_fields(one));
    CHECK(bidsim_test::state_fields(run_episode(kBusyMarket, 2, 1, overrides)) ==
          bidsim_test::state_fields(run_episode(kBusyMarket, 1, 1, overrides)));
    CHECK(std::accumulate(one.conversions.begin(), one.conversions.end(), 0.0) > 0);
  }
}

TEST_CASE("determinism: different seeds and episodes give different draws", "[determinism]") {
  const bidsim::MarketState base = run_episode(kBusyMarket, 1);
  const bidsim::MarketState other_seed = run_episode(kBusyMarket, 1, 0, {"seed=6"});
  CHECK(other_seed.value != base.value);
  CHECK(other_seed.wins != base.wins);
  const bidsim::MarketState episode1 = run_episode(kBusyMarket, 1, 1);
  CHECK(episode1.episode == 1);
  CHECK(episode1.value != base.value);
  // Environments of one batch differ from each other too.
  CHECK(!std::equal(base.value.begin(), base.value.begin() + 20, base.value.begin() + 20));
}

TEST_CASE("determinism: reset restores a fresh episode", "[determinism]") {
  Market m(kBusyMarket, {}, 2);
  for (int t = 0; !m.sim().done(); ++t) m.step_raw(pattern(m.envs(), m.agents(), t));
  const bidsim::MarketState first = m.state();
  m.sim().reset(3);
  m.step_raw(pattern(m.envs(), m.agents(), 0));
  m.sim().reset(0);
  CHECK(m.state().step == 0);
  CHECK(m.state().cost == std::vector<double>(first.cost.size(), 0.0));
  for (int i = 0; i < m.agents(); ++i)
    CHECK(m.state().remaining_budget[m.a(5, i)] == bidsim::to_units(bidsim::budget_to_money(m.scenario().agents.budget[i])));
  for (int t = 0; !m.sim().done(); ++t) m.step_raw(pattern(m.envs(), m.agents(), t));
  CHECK(bidsim_test::state_fields(m.state()) == bidsim_test::state_fields(first));
}

TEST_CASE("determinism: AuctionNet preset across thread counts", "[determinism][auctionnet]") {
  const std::string path = std::string(BIDSIM_SOURCE_DIR) + "/scenarios/auctionnet.yaml";
  const std::vector<std::string> overrides = {"impressions.total=20000", "market.envs=3", "market.steps=8",
                                              "impressions.profile=[0.125,0.125,0.125,0.125,0.125,0.125,0.125,0.125]"};
  auto run = [&](int threads) {
    const bidsim::Scenario s = bidsim::load_scenario(path, overrides);
    bidsim::Simulator sim(s, bidsim::Device::cpu, threads);
    bidsim::BuiltinPolicies policies(s);
    sim.reset(0);
    std::vector<float> m(static_cast<std::size_t>(s.market.envs) * s.agents.count);
    while (!sim.done()) {
      policies.act(sim.state(), m.data());
      sim.step(m.data());
    }
    return sim.state();
  };
  const bidsim::MarketState one = run(1);
  CHECK(bidsim_test::state_fields(run(3)) == bidsim_test::state_fields(one));
  CHECK(bidsim_test::state_fields(run(4)) == bidsim_test::state_fields(one));  // more threads than envs: split
  double conversions = 0;
  for (double c : one.conversions) conversions += c;
  CHECK(conversions > 0);
  for (std::size_t a = 0; a < one.cost.size(); ++a) {
    CHECK(one.remaining_budget[a] >= 0.0);
    CHECK(one.value[a] <= one.exposures[a] + 1e-9);  // pValue is a probability: at most 1 per shown win
    CHECK(one.conversions[a] <= one.exposures[a]);
    CHECK(one.exposures[a] <= one.wins[a]);
  }
}

// Engine bug (reported): the loader accepts `budget: .inf` (the PID policy and the summary handle
// it), but observation.cpp divides by the initial budget and by the mean budget, giving
// inf / inf = NaN in budget_left and budget_level.
TEST_CASE("observations stay finite with an unlimited budget", "[observation][budget]") {
  Market m("market: {steps: 2}\nagents: {count: 2, budget: .inf}\nimpressions: {per_step: 10}\n");
  m.step_all(1.0f);
  const auto& obs = m.state().observation;
  for (std::size_t k = 0; k < obs.size(); ++k) {
    INFO("agent " << k / bidsim::kObservationWidth << " field "
                  << bidsim::observation_field_name(static_cast<int>(k % bidsim::kObservationWidth)));
    CHECK(std::isfinite(obs[k]));
  }
}

// ----- simulator facade ------------------------------------------------------------------------

TEST_CASE("Simulator: stepping past the episode end throws", "[simulator]") {
  Market m("market: {steps: 2}\nagents: {count: 2}\nimpressions: {per_step: 3}\n");
  m.step_all(1.0f);
  CHECK_FALSE(m.sim().done());
  m.step_all(1.0f);
  CHECK(m.sim().done());
  CHECK_THROWS_AS(m.step_all(1.0f), std::logic_error);
  m.sim().reset(0);
  CHECK_FALSE(m.sim().done());
  CHECK(std::string(m.sim().backend_name()) == "cpu");
}

TEST_CASE("Simulator: device selection", "[simulator]") {
  CHECK(bidsim::parse_device("cpu") == bidsim::Device::cpu);
  CHECK(bidsim::parse_device("auto") == bidsim::Device::automatic);
  CHECK(bidsim::parse_device("cuda") == bidsim::Device::cuda);
  CHECK_THROWS_AS(bidsim::parse_device("gpu"), bidsim::UsageError);
  const bidsim::Scenario s = bidsim::parse_scenario("agents: {count: 2}", "test.yaml");
  bidsim::Simulator automatic(s, bidsim::Device::automatic, 1);  // always constructible
  if (!bidsim::cuda_device_present()) {
    try {
      bidsim::Simulator cuda(s, bidsim::Device::cuda, 1);
      FAIL("Device::cuda without a CUDA device must throw UsageError");
    } catch (const bidsim::UsageError& e) {
      CHECK(std::string(e.what()).find("cuda") != std::string::npos);
    }
  }
}

// ----- built-in policies ----------------------------------------------------------------------

TEST_CASE("policies: truthful, constant, cpa and a deviation slot", "[policy]") {
  const std::string yaml = R"(
market: {envs: 3, steps: 2}
agents: {count: 5, cpa: [10, 20, 30, 40, 50]}
impressions: {per_step: 0}
policies:
  - {name: honest, type: truthful, agents: [0]}
  - {name: fixed, type: constant, multiplier: [0.5, 0.7], agents: [1, 2]}
  - {name: target, type: cpa, factor: 2, agents: [3, 4]}
deviations:
  - {env: 1, agent: 0, policy: target}
  - {env: 2, agent: 3, policy: honest}
)";
  Market m(yaml);
  bidsim::BuiltinPolicies p(m.scenario());
  const std::vector<std::int32_t> want_slots = {0, 1, 1, 2, 2,   // env 0: defaults
                                                2, 1, 1, 2, 2,   // env 1: agent 0 deviates to cpa
                                                0, 1, 1, 0, 2};  // env 2: agent 3 deviates to truthful
  CHECK(p.slots() == want_slots);
  std::vector<float> mult(15, -1.0f);
  p.act(m.state(), mult.data());
  const std::vector<float> want = {1.0f, 0.5f, 0.7f, 80.0f, 100.0f,
                                   20.0f, 0.5f, 0.7f, 80.0f, 100.0f,
                                   1.0f, 0.5f, 0.7f, 1.0f, 100.0f};
  CHECK(mult == want);
}

TEST_CASE("policies: constant scalar multiplier", "[policy]") {
  Market m("agents: {count: 3}\nimpressions: {per_step: 0}\npolicies: [{type: constant, multiplier: 0.25}]\n");
  bidsim::BuiltinPolicies p(m.scenario());
  std::vector<float> mult(3, -1.0f);
  p.act(m.state(), mult.data());
  CHECK(mult == std::vector<float>{0.25f, 0.25f, 0.25f});
}

// Engine bug (reported): a constant policy's scalar multiplier is stored only for the agents it
// drives by default, so a deviating (env, agent) outside that list bids 0 instead of 0.5.
TEST_CASE("policies: a deviation to a deviation-only constant policy uses its multiplier",
          "[policy]") {
  // A constant policy that drives no agent by default and exists only for deviations.
  const std::string yaml = R"(
market: {envs: 2}
agents: {count: 2}
impressions: {per_step: 0}
policies:
  - {name: base, type: truthful}
  - {name: shade, type: constant, multiplier: 0.5, agents: []}
deviations:
  - {env: 1, agent: 0, policy: shade}
)";
  Market m(yaml);
  bidsim::BuiltinPolicies p(m.scenario());
  std::vector<float> mult(4, -1.0f);
  p.act(m.state(), mult.data());
  CHECK(mult == std::vector<float>{1.0f, 1.0f, 0.5f, 1.0f});
}

TEST_CASE("policies: PID pacing raises the multiplier when under-spending", "[policy][pid]") {
  // No impressions, so nothing is ever spent: at t = 0 the target share is 0 (error 0, multiplier =
  // initial); at t >= 1 the error (target - 0) / target is 1, so log m = log 2 + kp + ki x t.
  const std::string yaml = R"(
market: {envs: 1, steps: 4}
agents: {count: 2, budget: 100}
impressions: {per_step: 0}
policies:
  - {name: pace, type: pid, initial: 2, kp: 1.0, ki: 0.5, agents: [0]}
  - {name: capped, type: pid, initial: 2, kp: 1.0, ki: 0.5, max: 5, agents: [1]}
)";
  Market m(yaml);
  bidsim::BuiltinPolicies p(m.scenario());
  std::vector<float> mult(2);
  p.act(m.state(), mult.data());
  CHECK(mult[0] == Approx(2.0));
  CHECK(mult[1] == Approx(2.0));
  m.step_raw(mult);
  p.act(m.state(), mult.data());
  CHECK(mult[0] == Approx(2.0 * std::exp(1.0 + 0.5)));
  CHECK(mult[1] == Approx(5.0));
  m.step_raw(mult);
  p.act(m.state(), mult.data());
  CHECK(mult[0] == Approx(2.0 * std::exp(1.0 + 1.0)));
  p.reset();  // clears the integral
  m.sim().reset(0);
  p.act(m.state(), mult.data());
  CHECK(mult[0] == Approx(2.0));
}

// ----- simulate driver -------------------------------------------------------------------------

TEST_CASE("simulate: reductions agree with the market state", "[simulate]") {
  const std::string yaml = R"(
seed: 3
market: {envs: 3, steps: 6}
agents: {count: 10, categories: 2, budget: {uniform: [5, 40]}, cpa: 2}
impressions: {per_step: 200}
mechanism: {type: gsp, slots: 2, exposure: [1, 0.6]}
budget: {floor: 0.1, overspend: auctionnet}
reward: utility
policies:
  - {name: t, type: truthful, agents: {range: [0, 5]}}
  - {name: p, type: pid, initial: 1, agents: {range: [5, 10]}}
)";
  const bidsim::Scenario s = bidsim::parse_scenario(yaml, "test.yaml");
  bidsim::Simulator sim(s, bidsim::Device::cpu, 2);
  bidsim::BuiltinPolicies policies(s);
  const bidsim::SimulationResult r = bidsim::simulate(sim, policies);
  const bidsim::MarketState& st = sim.state();
  CHECK(r.envs == 3);
  CHECK(r.agents == 10);
  CHECK(r.steps == 6);
  CHECK(r.impressions == Approx(1200.0));
  CHECK(r.steps_record.size() == 6);
  CHECK(r.has_score);
  double welfare = 0, revenue = 0, step_cost = 0;
  for (int i = 0; i < 10; ++i) {
    double score = 0, cost = 0;
    for (int e = 0; e < 3; ++e) {
      const std::size_t a = st.index(e, i);
      score += bidsim::auctionnet_score(st.conversions[a], st.cost[a], 2.0);
      cost += st.cost[a];
      welfare += st.reward[a];
    }
    CHECK(r.score[i] == Approx(score / 3));
    CHECK(r.cost[i] == Approx(cost / 3));
    CHECK(r.budget_spent[i] <= 1.0 + 1e-12);
    CHECK(r.wins[i] >= r.exposures[i]);
    revenue += r.cost[i];
  }
  for (const bidsim::StepRecord& row : r.steps_record) {
    CHECK(row.impressions == Approx(200.0));
    CHECK(row.passes >= 1.0);
    step_cost += row.cost;
  }
  CHECK(r.social_welfare == Approx(welfare / 3));
  CHECK(r.revenue == Approx(revenue));
  CHECK(step_cost == Approx(r.revenue));
  CHECK(r.seconds >= 0.0);
}

// ----- exact money: the load-time range check (engine/core/money.cpp) --------------------------------

TEST_CASE("money range: scenarios whose sums could overflow are refused at load, one line", "[money][scenario]") {
  auto parse = [](const std::string& impressions, const std::string& budget, const std::string& value_scale) {
    return bidsim::parse_scenario("market: {envs: 1, steps: 2}\n"
                                  "agents: {count: 2, budget: " + budget + ", value_scale: " + value_scale + "}\n"
                                  "impressions: {per_step: " + impressions + "}\n"
                                  "values: {model: procedural, distribution: uniform}\n"
                                  "mechanism: {type: second_price}\n",
                                  "money.yaml");
  };
  auto message = [&](const std::string& impressions, const std::string& budget, const std::string& value_scale) {
    try {
      parse(impressions, budget, value_scale);
    } catch (const bidsim::ScenarioError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  // 2^21 impressions x 2 steps x 1 slot = 2^22 slot sales: the largest episode accepted.
  CHECK(message("2097152", "100", "1") == "accepted");
  const std::string over = message("2097153", "100", "1");
  CHECK(over.find("money.yaml: impressions: got 4194306, expected at most 2^22") == 0);
  CHECK(over.find('\n') == std::string::npos);
  // Budgets: up to 2^38 money units, or unlimited.
  CHECK(message("10", "274877906944", "1") == "accepted");
  CHECK(message("10", ".inf", "1") == "accepted");
  CHECK(message("10", "274877906945", "1").find("money.yaml: agents.budget[0]: got 274877906945, expected at most 2^38") == 0);
  // Values: uniform noise is at most 2, so value_scale 32768 keeps every value within 65536.
  CHECK(message("10", "100", "32767") == "accepted");
  CHECK(message("10", "100", "40000").find("money.yaml: agents.value_scale: got 80000") == 0);
}

TEST_CASE("money range: a scenario changed after loading is refused when a backend is built", "[money][scenario]") {
  // A program's own Scenario (here: a loaded one given more impressions, as a file-valued market filled
  // in memory is) reaches no backend past the range: both are built through market_params().
  bidsim::Scenario s = bidsim::parse_scenario("market: {envs: 1, steps: 2}\n"
                                              "agents: {count: 2, budget: 100}\n"
                                              "impressions: {per_step: 10}\n"
                                              "mechanism: {type: second_price}\n",
                                              "grown.yaml");
  REQUIRE_NOTHROW(bidsim::Simulator(s, bidsim::Device::cpu, 1));
  s.impressions.per_step = 2097153;  // 4194306 slot sales
  try {
    bidsim::Simulator sim(s, bidsim::Device::cpu, 1);
    FAIL("a scenario past 2^22 slot sales was built");
  } catch (const bidsim::ScenarioError& e) {
    CHECK(std::string(e.what()).find("grown.yaml: impressions: got 4194306, expected at most 2^22") == 0);
  }
}
