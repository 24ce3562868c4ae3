// Exact money: every cost, value and budget the market accumulates is an integer count of ticks
// (int64, 1 tick = 2^-24 money units), so sums are exact and do not depend on the order in which
// they are added. Both backends add the same integers in any order (threads, blocks, atomics) and
// get the same bits; floating point enters only when one amount (a price, a value, a budget) is
// converted in, and when a total is converted out for outputs and observations.
//
// Units and range, in this one place:
//   - resolution: kMoneyTicksPerUnit = 2^24 ticks per money unit (~6e-8 money);
//   - one amount (a price or a value) is at most kMaxAmount = 65536 money (2^40 ticks): a larger
//     price is charged as kMaxAmount (bids are still ranked by their float value);
//   - a finite budget is at most kMaxBudget = 2^38 money (2^62 ticks); an infinite budget is
//     kUnlimitedMoney, never decreased;
//   - every sum the market forms (one agent's step or episode cost or value, an environment's
//     revenue) is at most (impressions per episode x slots) amounts, so a scenario with
//     impressions per episode x slots x 2^40 > 2^62 (about 4.2 million slot sales) is refused at
//     load (check_money_range), and no sum can overflow.
// Rounding rule (to_money): x x 2^24 (exact: a power-of-two scaling), then to the nearest integer,
// ties to even, then clamped to [0, 2^40]. Non-positive and NaN amounts are 0 ticks.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/core/host_device.hpp"

namespace bidsim {

struct Scenario;

using Money = std::int64_t;

inline constexpr int kMoneyFractionBits = 24;
inline constexpr double kMoneyTicksPerUnit = 16777216.0;        // 2^24
inline constexpr double kMoneyUnitsPerTick = 1.0 / 16777216.0;  // 2^-24, exact
inline constexpr Money kMaxAmountTicks = Money{1} << 40;        // one price or value
inline constexpr double kMaxAmount = 65536.0;                   // = kMaxAmountTicks / 2^24
inline constexpr Money kMaxBudgetTicks = Money{1} << 62;
inline constexpr double kMaxBudget = 274877906944.0;            // 2^38 = kMaxBudgetTicks / 2^24
inline constexpr Money kMoneySumLimit = Money{1} << 62;         // bound on every sum of amounts
// Slot sales an episode may have so that no sum of amounts can pass kMoneySumLimit (2^22 = 4194304).
inline constexpr Money kMaxSlotSalesPerEpisode = kMoneySumLimit / kMaxAmountTicks;
inline constexpr Money kUnlimitedMoney = INT64_MAX;             // an infinite budget

// The nearest integer to `scaled` (0 <= scaled < 2^62), ties to even: floor and fraction are exact.
BIDSIM_HD Money nearest_ticks(double scaled) {
  const double whole = floor(scaled);
  const double fraction = scaled - whole;
  Money ticks = static_cast<Money>(whole);
  if (fraction > 0.5 || (fraction == 0.5 && (ticks & 1) != 0)) ++ticks;
  return ticks;
}

// Ticks of a non-negative amount `x` money units; see the rounding rule above.
BIDSIM_HD Money to_money(double x) {
  if (!(x > 0.0)) return 0;  // also NaN
  const double scaled = x * kMoneyTicksPerUnit;
  return scaled >= static_cast<double>(kMaxAmountTicks) ? kMaxAmountTicks : nearest_ticks(scaled);
}

// Ticks of a budget: the same rule without the per-amount cap (check_money_range bounds it), an
// infinite budget as kUnlimitedMoney.
BIDSIM_HD Money budget_to_money(double budget) {
  if (budget == HUGE_VAL) return kUnlimitedMoney;
  if (!(budget > 0.0)) return 0;
  const double scaled = budget * kMoneyTicksPerUnit;
  return scaled >= static_cast<double>(kMaxBudgetTicks) ? kMaxBudgetTicks : nearest_ticks(scaled);
}

// Money units of `ticks` for outputs and observations (exact below 2^53 ticks, 2^29 money).
BIDSIM_HD double to_units(Money ticks) { return static_cast<double>(ticks) * kMoneyUnitsPerTick; }

// A remaining budget for outputs: +inf for an unlimited one.
BIDSIM_HD double remaining_to_units(Money ticks) { return ticks == kUnlimitedMoney ? HUGE_VAL : to_units(ticks); }

// Pays `cost` out of a remaining budget (an unlimited budget stays unlimited).
BIDSIM_HD Money pay(Money remaining, Money cost) { return remaining == kUnlimitedMoney ? remaining : remaining - cost; }

// Refuses, with one line (file, key, value, expectation), a scenario whose money could leave the
// range above: a finite budget above kMaxBudget, values that can exceed kMaxAmount, or more slot
// sales per episode than the sums can hold. Called by scenario validation.
void check_money_range(const Scenario& s);

// Upper bound on the slot sales (impressions x slots) of one environment's episode.
double max_slot_sales_per_episode(const Scenario& s);

}  // namespace bidsim
