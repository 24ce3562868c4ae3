// The overspend rule's O(S) drop state (engine/core/drop_floor.hpp) on one impression: a hand-computed
// case of the prefix rule (several drop rounds, equal bids at the floor decided by tie keys,
// unsold_at_reserve), and a property test against a brute-force bitmap of dropped candidates over
// generated impressions (many rounds, dense and sparse candidates, 1..3 slots, ties forced by a coarse
// bid grid). The re-auction below is the one both backends run: the surviving winners, then the
// best candidates below the floor by KeyTop, by TopBids::offer with tie keys when two of those tie.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/core/drop_floor.hpp"
#include "engine/core/physics.hpp"

using bidsim::DropFloor;
using bidsim::KeyTop;
using bidsim::kMaxSlots;
using bidsim::kNoWinner;
using bidsim::TopBids;

namespace {

// One impression: candidate k is agent agent[k] with bid bid[k]; a bid qualifies when >= reserve > 0.
struct Impression {
  std::vector<float> bid;
  std::vector<int> agent;
  std::vector<std::uint32_t> tie;  // [agent] tie key
  int slots = 1;
  double reserve = 1.0;
  bool unsold_at_reserve = false;

  int size() const { return static_cast<int>(bid.size()); }
  bool qualifies(int k) const { return bid[k] > 0.0f && static_cast<double>(bid[k]) >= reserve; }
  std::uint32_t tie_key(int a) const { return tie[a]; }
};

// run_auction's fallback ranking over the candidates not in `excluded` (the brute-force bitmap).
TopBids reference_top(const Impression& m, const std::vector<bool>& excluded) {
  TopBids top;
  top.clear(m.slots + 1);
  for (int k = 0; k < m.size(); ++k)
    if (m.qualifies(k) && !excluded[k]) top.offer(m.bid[k], k, m.agent[k], [&](int a) { return m.tie_key(a); });
  return top;
}

// The outcome of one slot as the backends keep it: its ranked winner's candidate.
struct Slot {
  std::int32_t candidate = kNoWinner;
};

// The drop state of the impression: ranked winners (in the outcomes) and floor.
struct State {
  Slot winner[kMaxSlots];
  std::int32_t floor_candidate = kNoWinner;

  void record(const TopBids& top, int slots, int survivors, bool first_pass) {
    for (int r = 0; r < slots; ++r) winner[r].candidate = bidsim::ranked_winner(top, r);
    floor_candidate = bidsim::next_drop_floor(top, slots, survivors, first_pass, floor_candidate);
  }

  DropFloor floor(const Impression& m) const {
    return {m.bid[floor_candidate], floor_candidate, m.agent[floor_candidate]};
  }
};

// A re-auction from the drop state, as the backends run it.
TopBids reauction(const Impression& m, State& s) {
  const int S = m.slots;
  TopBids top;
  top.clear(S + 1);
  const int survivors = bidsim::start_reauction(top, s.winner, S, [&](int k) { return m.bid[k]; },
                                                [&](int k) { return m.agent[k]; });
  const DropFloor floor = s.floor(m);
  auto tie_key = [&](int a) { return m.tie_key(a); };
  auto below = [&](int k) {
    return m.qualifies(k) && bidsim::ranks_below_floor(m.bid[k], k, m.agent[k], floor, tie_key);
  };
  KeyTop<kMaxSlots + 1> keys;
  keys.clear();
  for (int k = 0; k < m.size(); ++k)
    if (below(k)) keys.push(bidsim::rank_key(m.bid[k], k));
  if (!keys.append_to(top, [&](int k) { return m.agent[k]; })) {
    top.count = survivors;
    for (int k = 0; k < m.size(); ++k)
      if (below(k)) top.offer(m.bid[k], k, m.agent[k], tie_key);
  }
  s.record(top, S, survivors, false);
  return top;
}

TopBids first_pass(const Impression& m, State& s) {
  const TopBids top = reference_top(m, std::vector<bool>(m.size(), false));
  s.record(top, m.slots, 0, true);
  return top;
}

bool dropped(const Impression& m, const State& s, int k) {
  const DropFloor floor = s.floor(m);
  return bidsim::dropped_by_floor(m.bid[k], k, m.agent[k], s.winner, m.slots,
                                  s.floor_candidate == kNoWinner ? nullptr : &floor,
                                  [&](int a) { return m.tie_key(a); });
}

std::vector<int> candidates(const TopBids& top) {
  std::vector<int> c;
  for (int r = 0; r < top.count; ++r) c.push_back(top.entry[r].candidate);
  return c;
}

// Slots whose ranked winner holds a sold slot (the rule drops only those).
std::vector<int> sold_slots(const Impression& m, const TopBids& top) {
  std::vector<int> sold;
  for (int slot = 0; slot < m.slots; ++slot)
    if (bidsim::slot_price(top, slot, m.reserve, m.unsold_at_reserve) >= 0.0) sold.push_back(slot);
  return sold;
}

}  // namespace

TEST_CASE("drop floor: hand-computed rounds with ties at the floor and an unsold ranked winner",
          "[physics][drop_floor]") {
  // Agents 0..5 (candidate k = agent k) bid 5, 4, 4, 4, 2, 1; reserve 1 with unsold_at_reserve; two
  // slots. Tie keys 10, 30, 20 for the three bids of 4: run_auction's order is 0, 2, 3, 1, 4, 5.
  Impression m;
  m.bid = {5, 4, 4, 4, 2, 1};
  m.agent = {0, 1, 2, 3, 4, 5};
  m.tie = {0, 10, 30, 20, 0, 0};
  m.slots = 2;
  m.reserve = 1.0;
  m.unsold_at_reserve = true;
  State s;
  // Pass 1: top 0, 2, 3; winners 0 (pays 4) and 2 (pays 4); the floor is 2.
  TopBids top = first_pass(m, s);
  CHECK(candidates(top) == std::vector<int>{0, 2, 3});
  CHECK(s.floor_candidate == 2);
  for (int k = 0; k < 6; ++k) CHECK_FALSE(dropped(m, s, k));
  // Round 1 drops 0. Survivor 2; below the floor (bid 4, tie 30): 3 (tie 20), 1 (tie 10), 4, 5. The
  // new top is 2, 3, 1 and the floor moves to 3; 1 has the floor's bid but ranks below it.
  s.winner[0].candidate = kNoWinner;
  top = reauction(m, s);
  CHECK(candidates(top) == std::vector<int>{2, 3, 1});
  CHECK(s.floor_candidate == 3);
  CHECK(dropped(m, s, 0));
  for (int k : {1, 2, 3, 4, 5}) CHECK_FALSE(dropped(m, s, k));
  // Round 2 drops both winners 2 and 3. No survivor; below the floor 3: 1, 4, 5. Winners 1 (pays 2,
  // sold) and 4 (price = reserve 1: unsold, still a ranked winner); the floor moves to 4.
  s.winner[0].candidate = s.winner[1].candidate = kNoWinner;
  top = reauction(m, s);
  CHECK(candidates(top) == std::vector<int>{1, 4, 5});
  CHECK(sold_slots(m, top) == std::vector<int>{0});
  CHECK(s.floor_candidate == 4);
  for (int k : {0, 2, 3}) CHECK(dropped(m, s, k));
  for (int k : {1, 4, 5}) CHECK_FALSE(dropped(m, s, k));
  // Round 3 drops 1 (the only sold win). Survivor 4 (unsold, never dropped); below the floor 4: 5.
  // Winners 4 and 5, both at the reserve, unsold; the floor moves to 5.
  s.winner[0].candidate = kNoWinner;
  top = reauction(m, s);
  CHECK(candidates(top) == std::vector<int>{4, 5});
  CHECK(sold_slots(m, top).empty());
  CHECK(s.floor_candidate == 5);
  for (int k : {0, 1, 2, 3}) CHECK(dropped(m, s, k));
  for (int k : {4, 5}) CHECK_FALSE(dropped(m, s, k));
}

TEST_CASE("drop floor: equal bids at the floor, the floor's own candidate and the lower agent",
          "[physics][drop_floor]") {
  // Floor: candidate 1 (agent 7), bid 3, tie key 50.
  const DropFloor floor{3.0f, 1, 7};
  const std::uint32_t keys[10] = {0, 0, 40, 50, 0, 0, 0, 50, 60, 50};
  auto tie_key = [&](int a) { return keys[a]; };
  CHECK(bidsim::ranks_below_floor(2.0f, 0, 0, floor, tie_key));        // lower bid
  CHECK_FALSE(bidsim::ranks_below_floor(4.0f, 0, 0, floor, tie_key));  // higher bid
  CHECK_FALSE(bidsim::ranks_below_floor(3.0f, 1, 7, floor, tie_key));  // the floor itself
  CHECK(bidsim::ranks_below_floor(3.0f, 2, 2, floor, tie_key));        // equal bid, lower tie key
  CHECK_FALSE(bidsim::ranks_below_floor(3.0f, 3, 8, floor, tie_key));  // equal bid, higher tie key
  CHECK_FALSE(bidsim::ranks_below_floor(3.0f, 4, 3, floor, tie_key));  // equal key, lower agent first
  CHECK(bidsim::ranks_below_floor(3.0f, 5, 9, floor, tie_key));        // equal key, higher agent below
}

TEST_CASE("drop floor: the dropped set equals a brute-force bitmap over many rounds",
          "[physics][drop_floor][property]") {
  std::mt19937 rng(20261202);
  int markets = 0, rounds_total = 0, tie_rounds = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    Impression m;
    const int C = 1 + static_cast<int>(rng() % 40);
    const bool sparse = trial % 2 == 1;  // sparse: most candidates do not qualify
    const int grid = 1 + static_cast<int>(rng() % 6);  // bids on a grid of `grid` levels: many ties
    m.slots = 1 + static_cast<int>(rng() % 3);
    m.reserve = 1.0;
    m.unsold_at_reserve = rng() % 2 == 0;
    std::vector<int> agents(60);
    for (int a = 0; a < 60; ++a) agents[a] = a;
    std::shuffle(agents.begin(), agents.end(), rng);
    m.tie.resize(60);
    for (auto& key : m.tie) key = rng() % 4;  // equal tie keys too: then the lower agent ranks first
    for (int k = 0; k < C; ++k) {
      m.agent.push_back(agents[k]);
      const bool bids = !sparse || rng() % 4 == 0;
      m.bid.push_back(bids ? 1.0f + static_cast<float>(rng() % grid) : (rng() % 2 ? 0.0f : 0.5f));
    }
    ++markets;
    State s;
    std::vector<bool> bitmap(C, false);
    TopBids top = first_pass(m, s);
    for (int round = 0; round < 12; ++round) {
      const std::vector<int> sold = sold_slots(m, top);
      if (sold.empty()) break;
      // Drop a random nonempty subset of the sold wins, as the rule's random per-slot selection does.
      std::vector<int> drop;
      for (int slot : sold)
        if (rng() % 2 == 0) drop.push_back(slot);
      if (drop.empty()) drop.push_back(sold[rng() % sold.size()]);
      for (int slot : drop) {
        bitmap[top.entry[slot].candidate] = true;
        s.winner[slot].candidate = kNoWinner;
      }
      top = reauction(m, s);
      const TopBids expected = reference_top(m, bitmap);
      ++rounds_total;
      INFO("trial " << trial << " round " << round << " C " << C << " slots " << m.slots);
      REQUIRE(top.count == expected.count);
      bool ties = false;
      for (int r = 0; r < top.count; ++r) {
        CHECK(top.entry[r].bid == expected.entry[r].bid);
        // Entry S only prices the last slot: among equal bids KeyTop keeps the lowest candidate there
        // (as run_auction's fast path does on every pass), so only the winners' identities must agree.
        if (r < m.slots) CHECK(top.entry[r].candidate == expected.entry[r].candidate);
        ties |= r > 0 && top.entry[r].bid == top.entry[r - 1].bid;
      }
      tie_rounds += ties;
      for (int k = 0; k < C; ++k) {
        INFO("candidate " << k);
        REQUIRE((m.qualifies(k) && dropped(m, s, k)) == bitmap[k]);
      }
      // The prefix property itself: dropped u ranked winners = the top of the full ranking.
      std::vector<int> order;
      for (int k = 0; k < C; ++k)
        if (m.qualifies(k)) order.push_back(k);
      std::sort(order.begin(), order.end(), [&](int x, int y) {
        if (m.bid[x] != m.bid[y]) return m.bid[x] > m.bid[y];
        if (m.tie[m.agent[x]] != m.tie[m.agent[y]]) return m.tie[m.agent[x]] > m.tie[m.agent[y]];
        return m.agent[x] < m.agent[y];
      });
      std::vector<bool> in_set(C, false);
      int size = 0;
      for (int k = 0; k < C; ++k) size += in_set[k] = bitmap[k];
      for (int r = 0; r < m.slots; ++r)
        if (s.winner[r].candidate != kNoWinner) {
          size += !in_set[s.winner[r].candidate];
          in_set[s.winner[r].candidate] = true;
        }
      for (int p = 0; p < size; ++p) CHECK(in_set[order[p]]);
    }
  }
  CHECK(markets == 3000);
  CHECK(rounds_total > 5000);  // the generator reaches many drop rounds
  CHECK(tie_rounds > 500);     // and many rankings with equal bids
}
