// Per-element market physics written once for both backends: one auction's ranking and prices,
// exposure, value and conversion draws, the closed-form score. The CPU loop and CUDA kernels call these.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstddef>
#include <cstring>

#include "engine/core/config_types.hpp"
#include "engine/core/host_device.hpp"
#include "engine/core/market_params.hpp"
#include "engine/core/money.hpp"
#include "engine/core/portable_math.hpp"
#include "engine/core/rng.hpp"

namespace bidsim {

// ----- ranking ------------------------------------------------------------------------------

struct RankedBid {
  float bid;
  std::int32_t candidate;  // position of the agent in the impression's candidate list
  std::int32_t agent;
  std::uint32_t tie;       // tie-break key, drawn only when an equal bid appears
  bool has_tie;
};

// Keeps the `capacity` best bids (slots + 1: the last one prices the last slot) in rank order.
// Equal bids are ordered by a counter-based key (higher key ranks first), never by arrival order,
// so the outcome does not depend on which thread saw which bid first.
struct TopBids {
  int capacity = 2;
  int count = 0;
  RankedBid entry[kMaxSlots + 1];

  BIDSIM_HD void clear(int cap) {
    capacity = cap;
    count = 0;
  }

  // key_of(agent) -> uint32 tie key for this impression.
  template <class TieKey>
  BIDSIM_HD void offer(float bid, int candidate, int agent, TieKey&& key_of) {
    if (count == capacity && bid < entry[count - 1].bid) return;  // the common case: not in the top
    RankedBid incoming{bid, candidate, agent, 0u, false};
    int pos = count;
    while (pos > 0) {
      RankedBid& above = entry[pos - 1];
      if (bid < above.bid) break;
      if (bid == above.bid) {
        if (!above.has_tie) { above.tie = key_of(above.agent); above.has_tie = true; }
        if (!incoming.has_tie) { incoming.tie = key_of(agent); incoming.has_tie = true; }
        if (incoming.tie < above.tie || (incoming.tie == above.tie && agent > above.agent)) break;
      }
      --pos;
    }
    if (pos >= capacity) return;
    const int last = count < capacity ? count : capacity - 1;
    for (int k = last; k > pos; --k) entry[k] = entry[k - 1];
    entry[pos] = incoming;
    if (count < capacity) ++count;
  }
};

// Fast path for the top bids: a branchless insertion network over 64-bit keys (bid bits high,
// candidate index low). Non-negative floats order like their bit patterns, so the network needs no
// float compares and no branches. It ignores tie keys; callers check `has_equal_bids` and redo the
// impression with TopBids when two of the kept bids are equal (rare with continuous values).
BIDSIM_HD std::uint64_t rank_key(float bid, int candidate) {
  std::uint32_t bits;
  memcpy(&bits, &bid, sizeof bits);
  return (static_cast<std::uint64_t>(bits) << 32) | (0xffffffffu - static_cast<std::uint32_t>(candidate));
}

template <int Capacity>
struct KeyTop {
  std::uint64_t key[Capacity];

  BIDSIM_HD void clear() {
    for (int r = 0; r < Capacity; ++r) key[r] = 0;
  }
  BIDSIM_HD void push(std::uint64_t x) {
    for (int r = 0; r < Capacity; ++r) {
      const std::uint64_t hi = key[r] > x ? key[r] : x;
      x = key[r] > x ? x : key[r];
      key[r] = hi;
    }
  }
  // Converts to TopBids; returns false when two kept bids are equal (ties need their keys).
  template <class AgentOf>
  BIDSIM_HD bool to_top_bids(TopBids& top, AgentOf&& agent_of) const {
    top.clear(Capacity);
    return append_to(top, agent_of);
  }
  // Appends the kept keys after top's entries while it has room (a re-auction's ranking after its
  // surviving winners, drop_floor.hpp); false when two appended bids are equal.
  template <class AgentOf>
  BIDSIM_HD bool append_to(TopBids& top, AgentOf&& agent_of) const {
    for (int r = 0; r < Capacity && key[r] != 0 && top.count < top.capacity; ++r) {
      if (r > 0 && (key[r] >> 32) == (key[r - 1] >> 32)) return false;
      const std::uint32_t bits = static_cast<std::uint32_t>(key[r] >> 32);
      RankedBid& e = top.entry[top.count++];
      memcpy(&e.bid, &bits, sizeof bits);
      e.candidate = static_cast<std::int32_t>(0xffffffffu - static_cast<std::uint32_t>(key[r]));
      e.agent = agent_of(e.candidate);
      e.tie = 0;
      e.has_tie = false;
    }
    return true;
  }
};

// A bid takes part in the auction only if it is positive and meets the reserve.
BIDSIM_HD bool bid_qualifies(float bid, double reserve) {
  return bid > 0.0f && static_cast<double>(bid) >= reserve;
}

// The smallest float that bid_qualifies() accepts, so hot loops test `bid >= floor` only.
inline float qualifying_bid_floor(double reserve) {
  float f = static_cast<float>(reserve);
  while (static_cast<double>(f) < reserve) f = nextafterf(f, HUGE_VALF);
  return f > 0.0f ? f : nextafterf(0.0f, 1.0f);
}

// Price of slot `slot` (0-based): the next bid down, floored at the reserve (second price / GSP
// pay-next-bid). Returns a negative value when the slot is not sold.
BIDSIM_HD double slot_price(const TopBids& top, int slot, double reserve, bool unsold_at_reserve) {
  if (slot >= top.count) return -1.0;
  const double next = slot + 1 < top.count ? static_cast<double>(top.entry[slot + 1].bid) : 0.0;
  const double price = next > reserve ? next : reserve;
  if (unsold_at_reserve && price == reserve) return -1.0;
  return price;
}

// The least winning cost an AuctionNet agent observes: the price the last slot would have, the
// (slots + 1)-th bid floored at the reserve, whether or not that slot sold (AuctionNet's
// market_prices[:, -1]).
BIDSIM_HD double least_winning_cost(const TopBids& top, int slots, double reserve) {
  const double next = slots < top.count ? static_cast<double>(top.entry[slots].bid) : 0.0;
  return next > reserve ? next : reserve;
}

// ----- exposure -----------------------------------------------------------------------------

// Whether slot `slot` is shown, given the previous slot's outcome (cascade: a hidden slot hides
// every slot below it, AuctionNet's "slot 2 not shown => slot 3 not shown").
BIDSIM_HD bool slot_exposed(float exposure_probability, float uniform, bool previous_exposed,
                            bool cascade) {
  if (cascade && !previous_exposed) return false;
  return exposure_probability >= 1.0f || uniform < exposure_probability;
}

// ----- normal distribution helpers ------------------------------------------------------------

BIDSIM_HD double normal_cdf(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }

// Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
BIDSIM_HD double normal_quantile(double p) {
  const double a0 = -3.969683028665376e+01, a1 = 2.209460984245205e+02,
               a2 = -2.759285104469687e+02, a3 = 1.383577518672690e+02,
               a4 = -3.066479806614716e+01, a5 = 2.506628277459239e+00;
  const double b0 = -5.447609879822406e+01, b1 = 1.615858368580409e+02,
               b2 = -1.556989798598866e+02, b3 = 6.680131188771972e+01,
               b4 = -1.328068155288572e+01;
  const double c0 = -7.784894002430293e-03, c1 = -3.223964580411365e-01,
               c2 = -2.400758277161838e+00, c3 = -2.549732539343734e+00,
               c4 = 4.374664141464968e+00, c5 = 2.938163982698783e+00;
  const double d0 = 7.784695709041462e-03, d1 = 3.224671290700398e-01,
               d2 = 2.445134137142996e+00, d3 = 3.754408661907416e+00;
  const double p_low = 0.02425;
  if (p <= 0.0) return -HUGE_VAL;
  if (p >= 1.0) return HUGE_VAL;
  if (p < p_low) {
    const double q = sqrt(-2.0 * portable_log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
           ((((d0 * q + d1) * q + d2) * q + d3) * q + 1.0);
  }
  if (p > 1.0 - p_low) {
    const double q = sqrt(-2.0 * portable_log(1.0 - p));
    return -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
           ((((d0 * q + d1) * q + d2) * q + d3) * q + 1.0);
  }
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q /
         (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1.0);
}

// Standard normal truncated to [lo, hi], by inversion of one uniform in (0, 1]; cdf_lo and cdf_hi
// are Φ(lo) and Φ(hi), passed in because the bounds are fixed per agent and episode.
BIDSIM_HD double truncated_standard_normal(double lo, double hi, double cdf_lo, double cdf_hi,
                                           double uniform) {
  double z = normal_quantile(cdf_lo + uniform * (cdf_hi - cdf_lo));
  z = z < lo ? lo : z;
  return z > hi ? hi : z;
}

BIDSIM_HD double truncated_standard_normal(double lo, double hi, double uniform) {
  return truncated_standard_normal(lo, hi, normal_cdf(lo), normal_cdf(hi), uniform);
}

BIDSIM_HD float clamp01(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }

// ----- value models -------------------------------------------------------------------------

// The lognormal noise's exponent from a standard normal: sigma z - sigma^2 / 2 (mean 1).
BIDSIM_HD float lognormal_exponent(float sigma, float normal) { return sigma * normal - 0.5f * sigma * sigma; }

// Procedural value noise with mean 1 from one (impression, agent) word. The distribution is a
// template argument so the CPU's dense loop dispatches once per impression, not once per pair.
template <ProceduralDistribution Dist>
BIDSIM_HD float procedural_noise_of(float sigma, std::uint32_t word) {
  if constexpr (Dist == ProceduralDistribution::uniform) return 2.0f * uniform_open24(word);
  else if constexpr (Dist == ProceduralDistribution::exponential) return -portable_logf(uniform_open24(word));
  else return portable_expf(lognormal_exponent(sigma, standard_normal(word)));
}

// Procedural value from the agent's mean-1 noise (both backends): advertiser size x noise, scaled down
// for another category's impression.
BIDSIM_HD float procedural_value_of_noise(float value_scale, int agent_category, int impression_category,
                                          float cross_category, float noise) {
  float v = value_scale * noise;
  if (agent_category != impression_category) v *= cross_category;
  return v;
}

// Procedural value of `agent` for an impression of `impression_category` from its value word.
template <ProceduralDistribution Dist>
BIDSIM_HD float procedural_value_of(float value_scale, int agent_category, int impression_category, float sigma,
                                    float cross_category, std::uint32_t word) {
  return procedural_value_of_noise(value_scale, agent_category, impression_category, cross_category,
                                   procedural_noise_of<Dist>(sigma, word));
}

BIDSIM_HD float procedural_value(float value_scale, int agent_category, int impression_category,
                                 ProceduralDistribution dist, float sigma, float cross_category,
                                 std::uint32_t word) {
  switch (dist) {
    case ProceduralDistribution::uniform:
      return procedural_value_of<ProceduralDistribution::uniform>(value_scale, agent_category, impression_category,
                                                                  sigma, cross_category, word);
    case ProceduralDistribution::exponential:
      return procedural_value_of<ProceduralDistribution::exponential>(value_scale, agent_category,
                                                                      impression_category, sigma, cross_category, word);
    case ProceduralDistribution::lognormal:
    default:
      return procedural_value_of<ProceduralDistribution::lognormal>(value_scale, agent_category, impression_category,
                                                                    sigma, cross_category, word);
  }
}

// Category of impression j (0 with a single category): one counter-based draw.
BIDSIM_HD int impression_category(std::uint64_t seed, std::uint32_t genv, int t, int j, int categories) {
  if (categories <= 1) return 0;
  const Draw d = draw(seed, Purpose::impression_category, genv, static_cast<std::uint32_t>(t),
                      static_cast<std::uint32_t>(j), 0);
  return static_cast<int>(uniform_below(d[0], static_cast<std::uint32_t>(categories)));
}

// AuctionNet pValue of one (impression, agent): N(mean, std) clipped to [0, 1], from its standard
// normal (the CPU backend draws a whole row of those at once, value_rows.hpp) or from its value word.
BIDSIM_HD float auctionnet_pvalue_of_normal(float mean, float std_dev, float normal) {
  return clamp01(mean + std_dev * normal);
}
BIDSIM_HD float auctionnet_pvalue(float mean, float std_dev, std::uint32_t word) {
  return auctionnet_pvalue_of_normal(mean, std_dev, standard_normal(word));
}

// AuctionNet conversion of an exposed win, from the win's conversion draw (words 0..2):
// the pValueSigma ratio |N(m, m/2)| capped at `cap` (word 2); the conversion value, a truncated
// normal around pValue with scale ratio x pValue and standardized bounds [-2 u1, 2 u2] (word 0);
// the conversion, Bernoulli(clip(value, 0, 1)) (word 1).
// The pValueSigma ratio |N(m, m/2)| capped at `cap`, from word 2 of the conversion draw; the sigma an
// AuctionNet agent observes is ratio x pValue (auctionnet_sigma), the conversion's scale the same.
BIDSIM_HD float auctionnet_sigma_ratio(float sigma_mean, float sigma_cap, std::uint32_t word) {
  const float ratio = fabsf(sigma_mean + 0.5f * sigma_mean * standard_normal(word));
  return ratio > sigma_cap ? sigma_cap : ratio;
}

BIDSIM_HD float auctionnet_sigma(float pvalue, float sigma_mean, float sigma_cap, std::uint32_t word) {
  return static_cast<float>(static_cast<double>(auctionnet_sigma_ratio(sigma_mean, sigma_cap, word)) * pvalue);
}

BIDSIM_HD bool auctionnet_converts(float pvalue, float sigma_mean, float sigma_cap, float bound_lo,
                                   float bound_hi, double cdf_lo, double cdf_hi,
                                   const Draw& conversion_draw) {
  const float ratio = auctionnet_sigma_ratio(sigma_mean, sigma_cap, conversion_draw[2]);
  const double scale = static_cast<double>(ratio) * pvalue;
  const double zt = truncated_standard_normal(-2.0 * bound_lo, 2.0 * bound_hi, cdf_lo, cdf_hi,
                                              uniform01_double(conversion_draw[0]));
  const float conversion_value = clamp01(static_cast<float>(pvalue + scale * zt));
  return uniform01(conversion_draw[1]) <= conversion_value && conversion_value > 0.0f;
}

// Conversion of an exposed win for value models without a conversion-noise model: Bernoulli(clip(v)).
BIDSIM_HD bool plain_converts(float value, const Draw& conversion_draw) {
  const float p = clamp01(value);
  return p > 0.0f && uniform01(conversion_draw[1]) <= p;
}

// ----- frozen noise (mechanism.frozen_noise) -------------------------------------------------

// The step that keys the exposure, conversion and overspend-drop draws: the tick itself, or 0 under
// mechanism.frozen_noise, AuctionNet's default_rng(1) behaviour of reusing the same uniforms at every
// tick and pass (shared/data/auctionnet-preset.md; issue 16).
BIDSIM_HD std::uint32_t noise_step(int t, bool frozen) { return frozen ? 0u : static_cast<std::uint32_t>(t); }

// The conversion draw of (impression j, agent): words 0 and 1 (the conversion value and the Bernoulli)
// are frozen with the noise; word 2, the pValueSigma ratio the agent observed before bidding, stays the
// tick's own so the sigma an agent sees is the one its conversion uses in both modes.
BIDSIM_HD Draw conversion_draw(std::uint64_t seed, std::uint32_t genv, int t, int j, int agent, bool frozen) {
  Draw d = draw(seed, Purpose::conversion, genv, static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(j),
                static_cast<std::uint32_t>(agent));
  if (frozen) {
    const Draw f = draw(seed, Purpose::conversion, genv, 0u, static_cast<std::uint32_t>(j),
                        static_cast<std::uint32_t>(agent));
    d[0] = f[0];
    d[1] = f[1];
  }
  return d;
}

// AuctionNet's per-agent conversion terms ([E][N], market_state.hpp AuctionNetEpisode), as pointers so
// the CPU backend's vectors and the device's buffers are read the same way; only the auctionnet model
// reads them.
struct ConversionTerms {
  const float *sigma_mean, *bound_lo, *bound_hi;
  const double *cdf_lo, *cdf_hi;
};

// Whether `agent`'s exposed win of impression j (value `value`) converts, under the scenario's value
// model, from the win's own conversion draw; a = e * N + agent indexes the terms.
BIDSIM_HD bool exposed_win_converts(const MarketParams& p, const ConversionTerms& an, std::size_t a, std::uint32_t genv,
                                    int t, int j, int agent, float value) {
  const Draw cd = conversion_draw(p.seed, genv, t, j, agent, p.frozen_noise);
  if (p.model == ValueModel::auctionnet)
    return auctionnet_converts(value, an.sigma_mean[a], p.sigma_cap, an.bound_lo[a], an.bound_hi[a], an.cdf_lo[a],
                               an.cdf_hi[a], cd);
  return plain_converts(value, cd);
}

// ----- one impression, both backends -------------------------------------------------------

// Value of `agent` for impression j of env e at step t under the procedural or AuctionNet model
// (file values are read from their rows instead), from its value word. an_mean/an_std: [E][T][N].
BIDSIM_HD float drawn_value(const MarketParams& p, const float* an_mean, const float* an_std, const float* value_scale,
                            const std::int32_t* agent_category, int e, int t, int category, int agent,
                            std::uint32_t word) {
  if (p.model == ValueModel::auctionnet) {
    const std::size_t k = (static_cast<std::size_t>(e) * p.T + t) * p.N + agent;
    return auctionnet_pvalue(an_mean[k], an_std[k], word);
  }
  return procedural_value(value_scale[agent], agent_category[agent], category, p.distribution, p.sigma,
                          p.cross_category, word);
}

// The slots of ranked impression j in order: whether each position is shown (one exposure draw per
// four slots, then the cascade) and its price (slot_price; negative: not sold), handed to
// slot(position, shown, price).
template <class Slot>
BIDSIM_HD void allocate_slots(const MarketParams& p, const TopBids& top, std::uint32_t genv, int t, int j,
                              Slot&& slot) {
  bool shown = true;
  Draw exposure_draw{};
  for (int k = 0; k < p.S; ++k) {
    if (!p.always_exposed && (k & 3) == 0)
      exposure_draw = draw(p.seed, Purpose::exposure, genv, noise_step(t, p.frozen_noise), static_cast<std::uint32_t>(j),
                           static_cast<std::uint32_t>(k >> 2));
    shown = slot_exposed(p.exposure[k], uniform01(draw_word(exposure_draw, k & 3)), shown, p.cascade);
    slot(k, shown, slot_price(top, k, p.reserve, p.unsold_at_reserve));
  }
}

// ----- exact money of a step -----------------------------------------------------------------

// The reward of exact value and cost and a conversion count under the scenario's reward: for one step
// or, from the episode totals, for the return so far (exact, so no per-step float accumulation).
BIDSIM_HD double reward_of(RewardKind kind, Money value, Money cost, double conversions) {
  if (kind == RewardKind::utility) return to_units(value - cost);
  if (kind == RewardKind::conversions) return conversions;
  return to_units(value);
}

// AuctionNet overspend rule: the share of an overspending agent's wins to drop this pass,
// max((cost - remaining) / (cost + 1e-4), 0), from exact money (cost - remaining is exact).
BIDSIM_HD double overspend_drop_ratio(Money pass_cost, Money remaining) {
  const double ratio = to_units(pass_cost - remaining) / (to_units(pass_cost) + 1e-4);
  return ratio > 0.0 ? ratio : 0.0;
}

// ----- episode metrics ----------------------------------------------------------------------

// AuctionNet score: conversions * min(1, CPA_limit / CPA)^2 with CPA = cost / (conversions + 1e-10).
BIDSIM_HD double auctionnet_score(double conversions, double cost, double cpa_limit) {
  const double cpa = cost / (conversions + 1e-10);
  double ratio = cpa > 0.0 ? cpa_limit / cpa : 1.0;
  ratio = ratio < 1.0 ? ratio : 1.0;
  return conversions * ratio * ratio;
}

}  // namespace bidsim
