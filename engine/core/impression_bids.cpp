// Per-impression bids: the observed values of a step and the checks of a bids array (see the header).
#include "engine/core/impression_bids.hpp"

#include <omp.h>

#include <cmath>
#include <sstream>
#include <string>

#include "engine/core/episode_setup.hpp"
#include "engine/core/errors.hpp"
#include "engine/core/physics.hpp"
#include "engine/core/rng.hpp"

namespace bidsim {

std::vector<std::int64_t> step_row_offsets(const std::vector<std::int32_t>& impressions, int envs, int steps, int t) {
  std::vector<std::int64_t> offset(static_cast<std::size_t>(envs) + 1, 0);
  for (int e = 0; e < envs; ++e)
    offset[e + 1] = offset[e] + impressions[static_cast<std::size_t>(e) * steps + t];
  return offset;
}

void require_impression_bids(const Scenario& s, const char* caller) {
  if (s.candidates.mode == CandidateMode::sparse && s.values.model != ValueModel::file)
    throw UsageError(std::string(caller) + ": " + s.source +
                     ": candidates.mode: got 'sparse', expected 'dense' (per-impression bids need every agent's "
                     "value of every impression)");
}

void check_bids(const float* bids, std::int64_t rows, int agents, const char* caller) {
  const std::int64_t count = rows * agents;
  for (std::int64_t k = 0; k < count; ++k) {
    const float b = bids[k];
    if (std::isfinite(b) && b >= 0.0f) continue;
    std::ostringstream o;
    o << caller << ": bids[" << k / agents << ", " << k % agents << "]: got " << b
      << ", expected a finite number >= 0 (0 = no bid)";
    throw UsageError(o.str());
  }
}

void observe_step_values(const Scenario& s, std::uint64_t episode, int t, const std::vector<std::int32_t>& impressions,
                         const AuctionNetEpisode& an, int threads, StepImpressions& out) {
  out.step = t;
  out.agents = s.agents.count;
  out.offset = step_row_offsets(impressions, s.market.envs, s.market.steps, t);
  const std::size_t cells = static_cast<std::size_t>(out.rows()) * out.agents;
  out.value.resize(cells);
  out.sigma.resize(cells);
  observe_step_values(s, episode, t, impressions, an, threads,
                      ValueOutput::impression_major(out.value.data(), out.sigma.data(), out.agents));
}

void observe_step_values(const Scenario& s, std::uint64_t episode, int t, const std::vector<std::int32_t>& impressions,
                         const AuctionNetEpisode& an, int threads, const ValueOutput& out) {
  const int E = s.market.envs, N = s.agents.count, T = s.market.steps;
  if (t >= T) return;
  const std::vector<std::int64_t> offset = step_row_offsets(impressions, E, T, t);
  const std::int64_t rs = out.row_stride, as = out.agent_stride;
  const bool needs_category = s.agents.categories > 1 &&
                              (s.candidates.within_category || s.values.model == ValueModel::procedural);
  const float sigma_cap = static_cast<float>(s.values.auctionnet.sigma_ratio_cap);
  const float procedural_sigma = static_cast<float>(s.values.procedural.sigma);
  const float cross_category = static_cast<float>(s.values.procedural.cross_category);
  if (threads <= 0) threads = omp_get_max_threads();
  for (int e = 0; e < E; ++e) {
    const std::uint32_t genv = global_env(episode, s.market, e);
    const int M = impressions[static_cast<std::size_t>(e) * T + t];
    float* value = out.value + offset[e] * rs;
    float* sigma = out.sigma + offset[e] * rs;
    if (s.values.model == ValueModel::file) {
      // Every cell is written: 0 for an agent that is no candidate of the impression.
      const FileValues& f = s.values.file;
      for (int j = 0; j < M; ++j) {
        for (int i = 0; i < N; ++i) value[j * rs + i * as] = sigma[j * rs + i * as] = 0.0f;
        const std::int64_t slot = f.step_offset[t] + j;
        for (std::int64_t r = f.row_offset[slot]; r < f.row_offset[slot + 1]; ++r) value[j * rs + f.agent[r] * as] = f.value[r];
      }
      continue;
    }
    // The same words as the backends' value draws: one Philox call per four agents (value_word).
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int j = 0; j < M; ++j) {
      float* v = value + j * rs;
      float* g = sigma + j * rs;
      const int category = needs_category ? impression_category(s.seed, genv, t, j, s.agents.categories) : 0;
      for (int i0 = 0; i0 < N; i0 += 4) {
        const Draw d = draw(s.seed, Purpose::value, genv, static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(j),
                            static_cast<std::uint32_t>(i0 >> 2));
        for (int q = 0; q < 4 && i0 + q < N; ++q) {
          const int i = i0 + q;
          if (s.values.model == ValueModel::auctionnet) {
            const std::size_t k = (static_cast<std::size_t>(e) * T + t) * N + i;
            const float pvalue = auctionnet_pvalue(an.mean[k], an.std_dev[k], d[q]);
            const std::size_t a = static_cast<std::size_t>(e) * N + i;
            v[i * as] = pvalue;
            g[i * as] = auctionnet_sigma(pvalue, an.sigma_mean[a], sigma_cap, conversion_draw(s.seed, genv, t, j, i, false)[2]);
          } else {
            v[i * as] = procedural_value(static_cast<float>(s.agents.value_scale[i]), s.agents.category[i], category,
                                         s.values.procedural.distribution, procedural_sigma, cross_category, d[q]);
            g[i * as] = 0.0f;
          }
        }
      }
    }
  }
}

}  // namespace bidsim
