// Direct market-level tests of two rules that planted bugs slipped past (issue 17): the budget floor
// compared with the *remaining* budget over several steps (not the starting one), and the tie order
// of equal bids (the largest counter-based tie key ranks first). Each expected outcome is computed
// here from the rule itself, so the reversed rule fails.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/episode_setup.hpp"
#include "engine/core/rng.hpp"
#include "test_support.hpp"

using bidsim_test::FileMarket;
using bidsim_test::ValueRow;

TEST_CASE("budget floor: compares the remaining budget, step after step", "[budget][floor]") {
  // Every step one impression, values 10 / 7 / 3 for agents 0 / 1 / 2, truthful second price.
  // Budgets 20, 12, 1000; floor 8. Step 0: agent 0 wins, pays 7, keeps 13 >= 8 and bids again.
  // Step 1: agent 0 wins again (pays 7), keeps 6 < 8: from step 2 on it sits out although it
  // *started* above the floor. Step 2: agent 1 (12 >= 8) wins at 3, keeps 9. Step 3: agent 1 wins at
  // 3, keeps 6 < 8. Step 4: only agent 2 bids and wins at the reserve 0.
  const std::string yaml = R"(
market: {envs: 1, steps: 5}
agents: {count: 3, budget: [20, 12, 1000]}
mechanism: {type: second_price}
budget: {floor: 8, overspend: truncate}
)";
  std::vector<ValueRow> rows;
  for (int t = 0; t < 5; ++t)
    for (int i = 0; i < 3; ++i) rows.push_back({t, 0, i, std::vector<float>{10, 7, 3}[i]});
  FileMarket m(yaml, rows);
  const std::vector<std::vector<std::int32_t>> bids = {{1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, {0, 0, 1}};
  const std::vector<std::vector<std::int32_t>> wins = {{1, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 1, 0}, {0, 0, 1}};
  const std::vector<std::vector<double>> remaining = {{13, 12, 1000}, {6, 12, 1000}, {6, 9, 1000}, {6, 6, 1000},
                                                      {6, 6, 1000}};
  for (int t = 0; t < 5; ++t) {
    INFO("step " << t);
    const auto& s = m->step_all(1.0f);
    CHECK(s.step_bid_count == bids[t]);
    CHECK(s.step_wins == wins[t]);
    CHECK(s.remaining_budget == remaining[t]);
  }
}

TEST_CASE("ties: equal bids rank by the counter-based tie key, largest first", "[auction][ties]") {
  // Three agents bid the same on one impression per (env, step). The rule (engine/core/physics.hpp
  // TopBids::offer): among equal bids the larger draw(seed, tie, env, step, impression, agent)[0]
  // ranks higher. Second price: the top key wins. GSP with 2 slots: the smallest key goes unsold.
  const int E = 4, T = 16, N = 3;
  std::vector<ValueRow> rows;
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < N; ++i) rows.push_back({t, 0, i, 2.0f});
  for (const bool gsp : {false, true}) {
    INFO((gsp ? "gsp, 2 slots" : "second price"));
    const std::string yaml = "market: {envs: " + std::to_string(E) + ", steps: " + std::to_string(T) +
                             "}\nagents: {count: 3, budget: 1e9}\nmechanism: " +
                             (gsp ? "{type: gsp, slots: 2}" : "{type: second_price}") + "\n";
    FileMarket m(yaml, rows);
    const bidsim::Scenario& s = m->scenario();
    int checked = 0;
    for (int t = 0; t < T; ++t) {
      const auto& st = m->step_all(1.0f);
      for (int e = 0; e < E; ++e) {
        const std::uint32_t genv = bidsim::global_env(0, s.market, e);
        int top = 0, bottom = 0;
        std::uint32_t key[N];
        for (int i = 0; i < N; ++i) {
          key[i] = bidsim::draw(s.seed, bidsim::Purpose::tie, genv, static_cast<std::uint32_t>(t), 0,
                                static_cast<std::uint32_t>(i))[0];
          if (key[i] > key[top]) top = i;
          if (key[i] < key[bottom]) bottom = i;
        }
        INFO("env " << e << " step " << t << " keys " << key[0] << " " << key[1] << " " << key[2]);
        for (int i = 0; i < N; ++i) {
          const bool expected_win = gsp ? i != bottom : i == top;
          CHECK(st.step_wins[m->a(e, i)] == (expected_win ? 1 : 0));
        }
        ++checked;
      }
    }
    CHECK(checked == E * T);
  }
}
