// Per-impression bids: a step in which the caller bids on every impression itself (AuctionNet's
// strategy interface) instead of giving one multiplier per agent, and gets every impression's outcome.
//
// Layout of one step (both backends). The step's impressions of all E environments form one list of
// rows, environment by environment: env e owns rows [offset[e], offset[e+1]), row offset[e] + j being
// its impression j. Per-(impression, agent) arrays are [rows][N] (agent fastest, AuctionNet's
// [num_pv][num_agent] bids array), per-(impression, slot) arrays are [rows][S].
//
//   Simulator::observe_impressions(view)   the values agents observe for the next step (pValue and
//                                          pValueSigma under values.model: auctionnet)
//   Simulator::observe_impressions(out)    the same values into caller memory, in either layout
//                                          (agent-major [N][rows]: each agent's values contiguous, as
//                                          the AuctionNet harness hands them to strategies)
//   Simulator::step_bids(bids, &outcomes)  runs that step with bids [rows][N]
//
// The market rules are the multiplier step's, unchanged: an agent below budget.floor does not bid
// (its row entries are ignored), a bid qualifies when it is > 0 and meets the reserve, ties break by
// counter-based keys, the overspend rule drops wins and re-auctions, money is exact (money.hpp). A bid
// of multiplier x value (as float, with the observed value) gives the multiplier step's results bit
// for bit, on either backend.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/core/market_state.hpp"
#include "engine/core/slot_outcome.hpp"

namespace bidsim {

// What agents observe before bidding on a step.
struct StepImpressions {
  int step = 0;                       // the step these values are for
  int agents = 0;
  std::vector<std::int64_t> offset;   // [E+1] first row of each environment
  std::vector<float> value;           // [rows][N] the agent's value of the impression (AuctionNet: pValue;
                                      //  file values: 0 for an agent that is no candidate of the impression)
  std::vector<float> sigma;           // [rows][N] AuctionNet: pValueSigma (its conversion noise scale); else 0
  std::int64_t rows() const { return offset.empty() ? 0 : offset.back(); }
};

// What a step_bids step did, per impression, from the final auction pass (after the overspend rule).
struct ImpressionOutcomes {
  int slots = 0;
  std::vector<std::int64_t> offset;         // [E+1] as StepImpressions
  std::vector<std::int32_t> winner;         // [rows][S] agent in slot s, -1 when the slot is unsold
  std::vector<double> price;                // [rows][S] the slot's price (money units, exact), 0 unsold
  std::vector<std::uint8_t> exposed;        // [rows][S] the sold slot was shown
  std::vector<std::uint8_t> charged;        // [rows][S] the winner paid the price (mechanism.charge)
  std::vector<std::uint8_t> converted;      // [rows][S] the exposed win converted
  std::vector<double> least_winning_cost;   // [rows] max((S+1)-th bid, reserve): AuctionNet's
                                            //  "least winning cost" (market_prices[:, -1])
  std::int64_t rows() const { return offset.empty() ? 0 : offset.back(); }
  void resize(const std::vector<std::int64_t>& row_offset, int slot_count) {
    slots = slot_count;
    offset = row_offset;
    const std::size_t items = static_cast<std::size_t>(rows()) * static_cast<std::size_t>(slot_count);
    winner.assign(items, -1);
    price.assign(items, 0.0);
    exposed.assign(items, 0);
    charged.assign(items, 0);
    converted.assign(items, 0);
    least_winning_cost.assign(static_cast<std::size_t>(rows()), 0.0);
  }
};

// Entry r ([rows][S] flat) of `out` from the final allocation's outcome of that slot (both backends): an
// unsold slot reads as winner -1, price 0 and no flags, whatever else its outcome holds.
inline void record_slot_outcome(const SlotOutcome& o, bool charge_on_exposure, ImpressionOutcomes& out, std::size_t r) {
  const bool sold = o.agent >= 0;
  out.winner[r] = sold ? o.agent : -1;
  out.price[r] = sold ? to_units(o.price) : 0.0;
  out.exposed[r] = sold && o.exposed;
  out.charged[r] = is_charged(o, charge_on_exposure);
  out.converted[r] = sold && o.exposed && o.converted;
}

// Where observed values go: element (row, agent) of `value` and `sigma` is at row x row_stride + agent x
// agent_stride. Impression-major [rows][N] is (N, 1); agent-major [N][rows] is (1, rows).
struct ValueOutput {
  float* value = nullptr;
  float* sigma = nullptr;
  std::int64_t row_stride = 0;
  std::int64_t agent_stride = 0;
  static ValueOutput impression_major(float* value, float* sigma, int agents) { return {value, sigma, agents, 1}; }
  static ValueOutput agent_major(float* value, float* sigma, std::int64_t rows) { return {value, sigma, 1, rows}; }
};

// Rows of step t: offset[e] = impressions of envs 0..e-1 at step t (impressions is MarketState's [E][T]).
std::vector<std::int64_t> step_row_offsets(const std::vector<std::int32_t>& impressions, int envs, int steps, int t);

// The values of step `t` every agent observes, from the same counter-based draws the backends use, so
// host code fills them for either backend (an auctionnet scenario needs the episode's parameters).
// `threads` <= 0 uses every core.
void observe_step_values(const Scenario& scenario, std::uint64_t episode, int t,
                         const std::vector<std::int32_t>& impressions, const AuctionNetEpisode& auctionnet,
                         int threads, StepImpressions& out);
// The same values written through `out` (rows x N cells each of value and sigma, every cell written).
void observe_step_values(const Scenario& scenario, std::uint64_t episode, int t,
                         const std::vector<std::int32_t>& impressions, const AuctionNetEpisode& auctionnet,
                         int threads, const ValueOutput& out);

// Throws UsageError unless the scenario supports per-impression bids (dense candidates or file values).
void require_impression_bids(const Scenario& scenario, const char* caller);

// Throws UsageError (naming row, agent and value) unless every bid is a finite number >= 0.
void check_bids(const float* bids, std::int64_t rows, int agents, const char* caller);

}  // namespace bidsim
