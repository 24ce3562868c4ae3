// Per-episode parameter draws shared by the backends; see episode_setup.hpp.
// Sub-indices inside Purpose::episode keep each parameter on its own counter.
#include "engine/core/episode_setup.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/core/physics.hpp"
#include "engine/core/rng.hpp"

namespace bidsim {
namespace {

// Sub-purposes within Purpose::episode (carried in the `impression` counter word).
enum EpisodeDraw : std::uint32_t {
  kTrafficJitter = 1,
  kCategoryFactor = 2,
  kAgentFactor = 3,
  kStdLevel = 4,
  kStdTick = 5,
  kSigmaMean = 6,
  kBounds = 7,
};

double uniform_between(double lo, double hi, std::uint32_t word) {
  return lo + (hi - lo) * uniform01_double(word);
}

double std_normal(const Draw& d) { return normal_pair(d[0], d[1]).x; }

// AuctionNet's clipping of the std ratio: below 0 -> 0.1, above 1 -> 1.
double clip_std_ratio(double r) { return r < 0.0 ? 0.1 : (r > 1.0 ? 1.0 : r); }

}  // namespace

void episode_impressions(const Scenario& s, std::uint32_t genv, std::int32_t* out) {
  const int T = s.market.steps;
  const ImpressionsConfig& imp = s.impressions;
  if (s.values.model == ValueModel::file) {
    for (int t = 0; t < T; ++t) out[t] = s.values.file.impressions[t];
    return;
  }
  if (imp.profile.empty()) {
    std::fill(out, out + T, imp.per_step);
    return;
  }
  std::vector<double> share(imp.profile);
  const double original = std::accumulate(share.begin(), share.end(), 0.0);
  if (imp.jitter.window > 0) {
    for (int t = 0; t < T; ++t) {
      const std::uint32_t window = static_cast<std::uint32_t>(t / imp.jitter.window);
      const Draw d = draw(s.seed, Purpose::episode, genv, window, kTrafficJitter, 0);
      share[t] *= uniform_between(imp.jitter.low, imp.jitter.high, d[0]);
    }
    const double jittered = std::accumulate(share.begin(), share.end(), 0.0);
    for (double& x : share) x *= original / jittered;
  }
  // Shares are relative: the profile's own sum maps to `total`.
  for (int t = 0; t < T; ++t) out[t] = static_cast<std::int32_t>(share[t] / original * imp.total);
}

std::int64_t max_impressions_per_step(const Scenario& s) {
  if (s.values.model == ValueModel::file) {
    const auto& v = s.values.file.impressions;
    return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  }
  const ImpressionsConfig& imp = s.impressions;
  if (imp.profile.empty()) return imp.per_step;
  const double max_share = *std::max_element(imp.profile.begin(), imp.profile.end()) /
                           std::accumulate(imp.profile.begin(), imp.profile.end(), 0.0);
  const double stretch = imp.jitter.window > 0 ? imp.jitter.high / imp.jitter.low : 1.0;
  return static_cast<std::int64_t>(std::ceil(max_share * stretch * imp.total)) + 1;
}

int candidates_per_impression(const Scenario& s) {
  if (s.values.model == ValueModel::file) return s.values.file.max_candidates;
  return s.candidates.mode == CandidateMode::dense ? s.agents.count : s.candidates.per_impression;
}

void auctionnet_episode(const Scenario& s, std::uint32_t genv, int e, AuctionNetEpisode& out) {
  const AuctionNetValues& p = s.values.auctionnet;
  const int N = s.agents.count, T = s.market.steps;
  const std::uint64_t seed = s.seed;
  for (int i = 0; i < N; ++i) {
    const int c = s.agents.category[i];
    const bool first_of_category = i == 0 || s.agents.category[i - 1] != c;
    const double level =
        clip_std_ratio(p.std_level_mean +
                       p.std_level_sd * std_normal(draw(seed, Purpose::episode, genv, 0, kStdLevel, i)));
    for (int t = 0; t < T; ++t) {
      const std::uint32_t w = static_cast<std::uint32_t>(t / p.window);
      const double category_factor = uniform_between(
          p.category_low, p.category_high,
          draw(seed, Purpose::episode, genv, w, kCategoryFactor, static_cast<std::uint32_t>(c))[0]);
      const double agent_factor =
          first_of_category
              ? 1.0
              : uniform_between(p.agent_low, p.agent_high,
                                draw(seed, Purpose::episode, genv, w, kAgentFactor, i)[0]);
      double mean = p.base_mean * category_factor * agent_factor;
      mean = mean < 0.0 ? 0.000005 : (mean > 1.0 ? 1.0 : mean);
      const double ratio = clip_std_ratio(
          level + p.std_tick_rel_sd * level *
                      std_normal(draw(seed, Purpose::episode, genv, t, kStdTick, i)));
      const std::size_t k = (static_cast<std::size_t>(e) * T + t) * N + i;
      out.mean[k] = static_cast<float>(mean);
      out.std_dev[k] = static_cast<float>(ratio * mean);
    }
    double m = std::fabs(p.sigma_ratio_mean +
                         p.sigma_ratio_sd * std_normal(draw(seed, Purpose::episode, genv, 0, kSigmaMean, i)));
    if (m > p.sigma_ratio_cap) m = p.sigma_ratio_replacement;
    const Draw b = draw(seed, Purpose::episode, genv, 0, kBounds, i);
    const std::size_t a = static_cast<std::size_t>(e) * N + i;
    out.sigma_mean[a] = static_cast<float>(m);
    out.bound_lo[a] = uniform01(b[0]);
    out.bound_hi[a] = uniform01(b[1]);
    out.cdf_lo[a] = normal_cdf(-2.0 * out.bound_lo[a]);
    out.cdf_hi[a] = normal_cdf(2.0 * out.bound_hi[a]);
  }
}

CategoryMembers category_members(const AgentsConfig& agents) {
  CategoryMembers cm;
  cm.offset.assign(agents.categories + 1, 0);
  for (int c : agents.category) ++cm.offset[c + 1];
  for (int c = 0; c < agents.categories; ++c) cm.offset[c + 1] += cm.offset[c];
  cm.members.resize(agents.count);
  std::vector<std::int32_t> fill(cm.offset.begin(), cm.offset.end() - 1);
  for (int i = 0; i < agents.count; ++i) cm.members[fill[agents.category[i]]++] = i;
  return cm;
}

}  // namespace bidsim
