// The finite mean-field game of the MESOB auction case study (paper §2.1, §3.1): states are
// (type, CTR level), actions are bid levels, t = 0..T, and the auction closed forms give rewards.
#pragma once

#include <string>
#include <vector>

#include "mesob/auction_model.hpp"
#include "mesob/mean_field_types.hpp"

namespace bidsim::mesob {

// A bidder type: its value per click v and its share of the population.
struct BidderType {
  std::string name;
  double value = 2.0;
  double share = 1.0;
};

// What a mesob scenario describes (mesob/mesob_scenario.cpp parses it from YAML).
struct AuctionGameConfig {
  std::vector<double> ctr;               // CTR levels
  std::vector<double> ctr_distribution;  // μ0 over CTR levels (normalized; every entry > 0)
  std::vector<BidderType> types;         // at least one
  std::vector<double> bids;              // bid levels (actions)
  int bidders = 5;                       // n, bidders per auction
  int horizon = 9;                       // T: decisions at t = 0..T
  WelfareParams welfare;
};

// The game in the flat layout the solvers use. Arrays over time are [T+1][S][A] (flows, policies,
// z, d) or [T+1][S] (y); pair p = s * A + a.
class AuctionGame {
 public:
  explicit AuctionGame(const AuctionGameConfig& config);

  int states() const { return S_; }
  int actions() const { return A_; }
  int horizon() const { return T_; }
  int slices() const { return T_ + 1; }
  int pairs() const { return S_ * A_; }
  int bidders() const { return n_; }
  int scores() const { return static_cast<int>(score_.size()); }

  const std::vector<double>& mu0() const { return mu0_; }
  const std::vector<double>& ctr() const { return ctr_; }
  const std::vector<double>& value() const { return value_; }
  const std::vector<double>& bid() const { return bid_; }
  // P_t(s' | s, a): [T][S*A][S]. The auction has no state transition (§3.1), so rows are the identity;
  // the solvers use the general form.
  const std::vector<double>& transition() const { return transition_; }
  const WelfareParams& welfare() const { return welfare_; }
  // r_max of the z set and the y ball (§2.2): a bound on |r| over all (s, a, L),
  // max_s ctr_s · (v_s + max bid), since SALE ≤ v s and CPC ≤ a_max s.
  double reward_bound() const { return reward_bound_; }
  const std::vector<std::string>& state_labels() const { return state_labels_; }
  const std::vector<std::string>& action_labels() const { return action_labels_; }
  const std::vector<int>& state_type() const { return state_type_; }
  const std::vector<BidderType>& types() const { return types_; }

  AuctionView view() const;

 private:
  int S_ = 0, A_ = 0, T_ = 0, n_ = 2;
  std::vector<double> mu0_, ctr_, value_, bid_, transition_;
  std::vector<double> score_, tie_coef_;
  std::vector<int> pair_score_, state_type_;
  std::vector<std::string> state_labels_, action_labels_;
  std::vector<BidderType> types_;
  WelfareParams welfare_;
  double reward_bound_ = 0;
};

}  // namespace bidsim::mesob
