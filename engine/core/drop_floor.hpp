// The AuctionNet overspend rule's drop state of one step in O(S) words per impression, written once
// for both backends (issue 15 item 6): it replaces a bitmap of M x C bits (every impression x every
// candidate), which is 1.25e11 bytes with 10^6 dense agents and 10^6 impressions.
//
// Why O(S) is enough. Rank an impression's qualifying candidates in run_auction's order (TopBids::offer:
// higher bid first, equal bids by the counter-based tie key, higher first, then by the lower agent
// index): a strict total order that does not change within a step, since an impression's bids, the
// active set and the tie keys are fixed for the step. Call the top S of the ranking over the
// non-dropped candidates the ranked winners (sold or not: with unsold_at_reserve a ranked winner can
// hold an unsold slot; the rule never drops it, it only drops sold wins).
// Claim: after every drop round, the dropped candidates together with the current ranked winners form
// a prefix P of the full ranking. Induction: before the first round nothing is dropped and the
// winners are the top S, a prefix. A round drops a subset D of the current winners W, so
// dropped' u (W \ D) = P still; the re-auction ranks the non-dropped candidates, of which W \ D are in
// P and all others rank below P, so the new winners are W \ D followed by the best |D| candidates
// below P, and dropped' u W' is P extended downwards: a prefix again. (An impression that lost no
// winner is not re-auctioned and keeps both sets.)
// Hence, with the floor = the lowest-ranked candidate that was a ranked winner at any time this step
// (the last element of P): a candidate is dropped exactly when it ranks at or above the floor and is
// not a current ranked winner; and a re-auction's new top S + 1 is the surviving winners in rank
// order followed by the best candidates ranked strictly below the floor. Per impression this keeps
// the S ranked winners' candidate indices and the floor's. The winners are kept where the outcomes
// already are (SlotOutcome::candidate of each slot, sold or not: kNoWinner where the slot has no
// ranked winner or its winner was dropped this round), so the only new state is the floor's
// candidate index, 4 bytes per impression; bids and agents are read again from the impression's row.
#pragma once

#include <cstdint>

#include "engine/core/host_device.hpp"
#include "engine/core/physics.hpp"

namespace bidsim {

// A ranked-winner entry that holds no candidate: the slot has no ranked winner, or the overspend rule
// dropped it this round (until the impression's re-auction).
inline constexpr std::int32_t kNoWinner = -1;

// The lowest-ranked candidate that was a ranked winner of an impression this step.
struct DropFloor {
  float bid;
  std::int32_t candidate;  // position in the impression's candidate list
  std::int32_t agent;
};

// Whether a candidate (bid, candidate, agent) ranks strictly below the floor in TopBids::offer's
// order. tie_key(agent) -> uint32 is the impression's tie key; drawn only on equal bids (rare).
template <class TieKey>
BIDSIM_HD bool ranks_below_floor(float bid, int candidate, int agent, const DropFloor& floor, TieKey&& tie_key) {
  if (bid != floor.bid) return bid < floor.bid;
  if (candidate == floor.candidate) return false;
  const std::uint32_t mine = tie_key(agent), theirs = tie_key(floor.agent);
  return mine < theirs || (mine == theirs && agent > floor.agent);
}

// Whether a qualifying candidate of an impression is dropped this step: at or above the floor and
// not among the current ranked winners (slot[0, slots).candidate, an impression's outcomes).
// floor == nullptr: nothing dropped yet.
template <class Outcome, class TieKey>
BIDSIM_HD bool dropped_by_floor(float bid, int candidate, int agent, const Outcome* slot, int slots,
                                const DropFloor* floor, TieKey&& tie_key) {
  if (floor == nullptr) return false;
  for (int r = 0; r < slots; ++r)
    if (slot[r].candidate == candidate) return false;
  return !ranks_below_floor(bid, candidate, agent, *floor, tie_key);
}

// The ranked winner of `slot` (< slots) in an auction's ranking: its candidate, or kNoWinner.
BIDSIM_HD std::int32_t ranked_winner(const TopBids& top, int slot) {
  return slot < top.count ? top.entry[slot].candidate : kNoWinner;
}

// Starts a re-auction's ranking in `top` (cleared, capacity S + 1): the surviving ranked winners
// (slot[0, slots).candidate) in rank order, bids and agents read again from the row (bid_of(candidate),
// agent_of(candidate)). The best candidates below the floor follow (KeyTop::append_to, or
// TopBids::offer, which ranks every one of them below the survivors since its order is the
// ranking's). Returns how many survive.
template <class Outcome, class BidOf, class AgentOf>
BIDSIM_HD int start_reauction(TopBids& top, const Outcome* slot, int slots, BidOf&& bid_of, AgentOf&& agent_of) {
  for (int r = 0; r < slots; ++r) {
    const std::int32_t candidate = slot[r].candidate;
    if (candidate == kNoWinner) continue;
    RankedBid& e = top.entry[top.count++];
    e.bid = bid_of(candidate);
    e.candidate = candidate;
    e.agent = agent_of(candidate);
    e.tie = 0;
    e.has_tie = false;
  }
  return top.count;
}

// The floor after an auction of an impression (top: its ranking over the non-dropped candidates):
// on the first pass the last ranked winner (kNoWinner when none); on a re-auction, whose top starts
// with the `survivors` surviving winners, the last ranked winner when a new one was taken from below
// the floor (new ones rank below the old floor), else the old floor.
BIDSIM_HD std::int32_t next_drop_floor(const TopBids& top, int slots, int survivors, bool first_pass,
                                       std::int32_t floor_candidate) {
  const int winners = top.count < slots ? top.count : slots;
  if (first_pass) return winners > 0 ? top.entry[winners - 1].candidate : kNoWinner;
  return winners > survivors ? top.entry[winners - 1].candidate : floor_candidate;
}

}  // namespace bidsim
