// Builds the flat game tables from a validated AuctionGameConfig: states = types × CTR levels,
// distinct scores in ascending order (equal products share one score), tie shares C(n-1,i)/(i+1).
#include "mesob/game.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace bidsim::mesob {

namespace {

std::string format_number(double x) {
  std::ostringstream o;
  o << x;
  return o.str();
}

}  // namespace

AuctionGame::AuctionGame(const AuctionGameConfig& c)
    : A_(static_cast<int>(c.bids.size())), T_(c.horizon), n_(c.bidders), bid_(c.bids),
      types_(c.types), welfare_(c.welfare) {
  if (c.ctr.empty() || c.bids.empty() || c.types.empty() || c.ctr_distribution.size() != c.ctr.size())
    throw std::invalid_argument("AuctionGame: empty CTR levels, bids or types, or a μ0 of the wrong size");
  if (n_ < 2 || n_ > kMaxBidders) throw std::invalid_argument("AuctionGame: bidders out of range");
  const int levels = static_cast<int>(c.ctr.size());
  S_ = levels * static_cast<int>(c.types.size());

  const double ctr_total = std::accumulate(c.ctr_distribution.begin(), c.ctr_distribution.end(), 0.0);
  double type_total = 0;
  for (const BidderType& t : c.types) type_total += t.share;
  for (std::size_t k = 0; k < c.types.size(); ++k) {
    for (int l = 0; l < levels; ++l) {
      ctr_.push_back(c.ctr[l]);
      value_.push_back(c.types[k].value);
      mu0_.push_back(c.types[k].share / type_total * c.ctr_distribution[l] / ctr_total);
      state_type_.push_back(static_cast<int>(k));
      std::string label = "ctr=" + format_number(c.ctr[l]);
      if (c.types.size() > 1) label = c.types[k].name + "/" + label;
      state_labels_.push_back(label);
    }
  }
  for (double b : bid_) action_labels_.push_back("bid=" + format_number(b));

  // Distinct scores: sort pair scores, merge values equal to 1e-12 relative (0.2 × 2.5 and 0.4 × 1.25
  // differ in the last bit of a double but are the same score).
  std::vector<std::pair<double, int>> by_score;
  for (int s = 0; s < S_; ++s)
    for (int a = 0; a < A_; ++a) by_score.push_back({ctr_[s] * bid_[a], s * A_ + a});
  std::sort(by_score.begin(), by_score.end());
  pair_score_.assign(S_ * A_, 0);
  for (const auto& [score, pair] : by_score) {
    if (score_.empty() || score - score_.back() > 1e-12 * std::max(1.0, std::fabs(score)))
      score_.push_back(score);
    pair_score_[pair] = static_cast<int>(score_.size()) - 1;
  }

  // C(n-1, i) / (i + 1): the chance of winning a tie with i others times the number of such sets.
  double binom = 1.0;
  for (int i = 0; i < n_; ++i) {
    tie_coef_.push_back(binom / (i + 1));
    binom = binom * (n_ - 1 - i) / (i + 1);
  }

  const int SA = S_ * A_;
  transition_.assign(static_cast<std::size_t>(T_) * SA * S_, 0.0);
  for (int t = 0; t < T_; ++t)
    for (int p = 0; p < SA; ++p) transition_[(static_cast<std::size_t>(t) * SA + p) * S_ + p / A_] = 1.0;

  const double max_bid = *std::max_element(bid_.begin(), bid_.end());
  for (int s = 0; s < S_; ++s) reward_bound_ = std::max(reward_bound_, ctr_[s] * (value_[s] + max_bid));
}

AuctionView AuctionGame::view() const {
  AuctionView v;
  v.states = S_;
  v.actions = A_;
  v.bidders = n_;
  v.scores = scores();
  v.ctr = ctr_.data();
  v.value = value_.data();
  v.bid = bid_.data();
  v.score = score_.data();
  v.pair_score = pair_score_.data();
  v.tie_coef = tie_coef_.data();
  return v;
}

}  // namespace bidsim::mesob
