// Runs a mean-field policy in the engine's sparse second-price market and tallies per-(s, a)
// outcomes against the closed forms (see bridge.hpp).
#include "mesob/bridge.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/facade/simulator.hpp"

namespace bidsim::mesob {

namespace {

// Largest-remainder rounding of `weights` (summing to 1) to integer counts summing to `total`.
std::vector<int> quotas(const double* weights, int k, int total) {
  std::vector<int> count(k);
  std::vector<std::pair<double, int>> remainder;
  int assigned = 0;
  for (int i = 0; i < k; ++i) {
    const double exact = weights[i] * total;
    count[i] = static_cast<int>(std::floor(exact));
    assigned += count[i];
    remainder.push_back({exact - count[i], -i});
  }
  std::sort(remainder.rbegin(), remainder.rend());
  for (int r = 0; assigned < total; ++r, ++assigned) count[-remainder[r % k].second] += 1;
  return count;
}

Scenario bridge_market(const AuctionGame& game, const BridgeConfig& c, const std::vector<int>& state_of,
                       std::uint64_t seed) {
  Scenario s;
  s.source = "<mesob bridge>";
  s.name = "mesob-bridge";
  s.seed = seed;
  s.market.envs = c.envs;
  s.market.steps = game.slices();
  s.agents.count = c.agents;
  s.agents.categories = 1;
  s.agents.category.assign(c.agents, 0);
  s.agents.budget.assign(c.agents, HUGE_VAL);  // the mean-field auction has no budgets
  for (int i = 0; i < c.agents; ++i) s.agents.value_scale.push_back(game.ctr()[state_of[i]]);
  s.impressions.per_step = c.impressions;
  s.values.model = ValueModel::procedural;
  s.values.procedural.distribution = ProceduralDistribution::lognormal;
  s.values.procedural.sigma = 0.0;  // value = the agent's CTR exactly, so bid = bid level × CTR = score
  s.candidates.mode = CandidateMode::sparse;
  s.candidates.per_impression = game.bidders();
  s.mechanism.kind = MechanismKind::second_price;
  s.budget.overspend = OverspendRule::truncate;
  s.reward = RewardKind::utility;
  return s;
}

}  // namespace

BridgeResult run_bridge(const AuctionGame& game, const Policy& policy, const BridgeConfig& c,
                        std::uint64_t seed, int threads) {
  const int S = game.states(), A = game.actions(), SA = game.pairs(), N = c.agents;
  // States by quota: agents [first[s], first[s+1]) are in state s.
  const std::vector<int> per_state = quotas(game.mu0().data(), S, N);
  std::vector<int> state_of(N), first(S + 1, 0);
  for (int s = 0; s < S; ++s) first[s + 1] = first[s] + per_state[s];
  for (int s = 0; s < S; ++s)
    for (int i = first[s]; i < first[s + 1]; ++i) state_of[i] = s;

  Simulator sim(bridge_market(game, c, state_of, seed), Device::cpu, threads);
  sim.reset(0);
  const AuctionView view = game.view();
  const int m = game.scores();
  std::vector<double> scratch(5 * static_cast<std::size_t>(m)), slice(SA);
  std::vector<float> multipliers(static_cast<std::size_t>(c.envs) * N);
  std::vector<int> action_of(N);
  std::vector<double> expected_wins(SA, 0.0), expected_wins_var(SA, 0.0), expected_pay(SA, 0.0),
      expected_pay_var(SA, 0.0);
  BridgeResult out;
  out.agents = N;
  out.impressions = c.impressions;
  out.envs = c.envs;
  out.steps = game.slices();
  out.rows.resize(SA);

  for (int t = 0; t < game.slices(); ++t) {
    // Actions by quota of π_t(·|s) inside each state's block of agents; the realized slice L_t.
    std::fill(slice.begin(), slice.end(), 0.0);
    for (int s = 0; s < S; ++s) {
      const std::vector<int> per_action =
          quotas(&policy[static_cast<std::size_t>(t) * SA + s * A], A, per_state[s]);
      int i = first[s];
      for (int a = 0; a < A; ++a)
        for (int k = 0; k < per_action[a]; ++k, ++i) action_of[i] = a;
      for (int a = 0; a < A; ++a) slice[s * A + a] = static_cast<double>(per_action[a]) / N;
    }
    for (int e = 0; e < c.envs; ++e)
      for (int i = 0; i < N; ++i)
        multipliers[static_cast<std::size_t>(e) * N + i] = static_cast<float>(game.bid()[action_of[i]]);
    sim.step(multipliers.data());

    // Closed forms at the realized slice: win probability, expected payment and its second moment.
    const ScoreScratch w{scratch.data(), scratch.data() + m, scratch.data() + 2 * m, scratch.data() + 3 * m,
                         scratch.data() + 4 * m};
    auction_forward(view, slice.data(), w);
    std::vector<double> pay_second_moment(m, 0.0);
    double second = 0;
    for (int k = 0; k < m; ++k) {
      pay_second_moment[k] = second + w.tie_win[k] * view.score[k] * view.score[k];
      const double top_here = int_pow(w.below[k] + w.mass[k], game.bidders() - 1) - int_pow(w.below[k], game.bidders() - 1);
      second += top_here * view.score[k] * view.score[k];
    }

    const MarketState& st = sim.state();
    for (int e = 0; e < c.envs; ++e) {
      for (int i = 0; i < N; ++i) {
        const std::size_t idx = st.index(e, i);
        const int p = state_of[i] * A + action_of[i];
        const long long part = st.step_bid_count[idx];
        BridgeRow& row = out.rows[p];
        row.participations += part;
        row.wins += st.step_wins[idx];
        row.cost += st.step_cost[idx];
        const int k = view.pair_score[p];
        const double win = w.win[k];
        const double pay = w.solo_pay[k] + w.tie_win[k] * view.score[k];
        expected_wins[p] += part * win;
        expected_wins_var[p] += part * win * (1 - win);
        expected_pay[p] += part * pay;
        expected_pay_var[p] += part * std::max(0.0, pay_second_moment[k] - pay * pay);
      }
    }
  }

  for (int p = 0; p < SA; ++p) {
    BridgeRow& row = out.rows[p];
    row.state = p / A;
    row.action = p % A;
    row.score = game.ctr()[row.state] * game.bid()[row.action];
    row.compared = row.score > 0 && row.participations > 0;
    if (row.participations == 0) continue;
    const double n = static_cast<double>(row.participations);
    row.win_rate = row.wins / n;
    row.win_rate_closed = expected_wins[p] / n;
    row.win_rate_se = std::sqrt(expected_wins_var[p]) / n;
    row.payment = row.cost / n;
    row.payment_closed = expected_pay[p] / n;
    row.payment_se = std::sqrt(expected_pay_var[p]) / n;
    if (!row.compared) continue;
    if (row.win_rate_se > 0)
      out.max_win_z = std::max(out.max_win_z, std::fabs(row.win_rate - row.win_rate_closed) / row.win_rate_se);
    if (row.payment_se > 0)
      out.max_payment_z = std::max(out.max_payment_z, std::fabs(row.payment - row.payment_closed) / row.payment_se);
  }
  return out;
}

}  // namespace bidsim::mesob
