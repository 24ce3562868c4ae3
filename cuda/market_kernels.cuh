// The market step's kernels, each mirroring one part of engine/cpu_backend.cpp (cited per kernel),
// built on the shared host+device physics (physics.hpp, rng.hpp, observation_physics.hpp) so the
// arithmetic is the CPU's own code. Launchers are in cuda_backend.cu. Determinism: no float atomics;
// money is summed per agent by one thread in impression order (the CPU's order, so the sums are the
// CPU's bits); integer counts use integer atomics, whose result does not depend on order.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/launch.cuh"
#include "engine/config_types.hpp"
#include "engine/observation_physics.hpp"
#include "engine/physics.hpp"
#include "engine/rng.hpp"

namespace bidsim::cuda {

constexpr int kWarp = 32;
constexpr int kAuctionWarpsPerBlock = 8;
constexpr int kAuctionThreads = kAuctionWarpsPerBlock * kWarp;
constexpr int kImpressionsPerWarp = 4;
constexpr int kImpressionsPerBlock = kAuctionWarpsPerBlock * kImpressionsPerWarp;
constexpr int kElementThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// One (impression, slot) of the current allocation (cpu_backend.cpp SlotOutcome), [items] flat.
struct SlotOutcome {
  std::int32_t agent;      // -1 when the slot is not sold (or voided by the truncate rule)
  std::int32_t candidate;  // position in the impression's candidate list (for the drop bitmap)
  float price;             // what the winner pays if charged
  float value;             // the winner's value for this impression
  std::int32_t exposed;    // the slot position was shown
};

// What the overspend rule does in an environment this pass.
enum EnvMode : std::int32_t { kEnvIdle = 0, kEnvDrop = 1, kEnvTruncate = 2 };

// Everything a kernel reads or writes, as trivially copyable pointers + scalars. Shapes: [E][N]
// per-agent arrays in env-major order; `items` = total impressions of the step x S.
struct MarketView {
  // scenario constants
  std::uint64_t seed;
  int E, N, S, C, T, K, categories, max_passes;
  ValueModel model;
  CandidateMode mode;
  ProceduralDistribution distribution;
  RewardKind reward;
  bool within_category, needs_category, unsold_at_reserve, cascade, charge_on_exposure, always_exposed;
  bool shared_bid_count;  // count bids in a per-block shared histogram (N small enough)
  float sigma, cross_category, bid_floor, sigma_cap;
  double reserve, budget_floor;
  float exposure[kMaxSlots];
  const float* value_scale;          // [N]
  const std::int32_t* agent_category;  // [N]
  const std::int32_t* members;       // [N] agents grouped by category (sparse candidate pool)
  const std::int32_t* member_offset; // [categories+1]
  const std::int64_t* file_step_offset;  // [T+1]
  const std::int64_t* file_row_offset;   // [Σ impressions + 1]
  const std::int32_t* file_agent;
  const float* file_value;
  // observation statics [N]
  const float *obs_category, *obs_value_scale, *obs_budget_level, *obs_cpa_level;
  const double* obs_budget_denominator;
  const std::uint8_t* obs_bounded;
  // episode
  const std::uint32_t* genv;            // [E] global env index of each local env
  const float *an_mean, *an_std;        // [E][T][N]
  const float *an_sigma_mean, *an_bound_lo, *an_bound_hi;  // [E][N]
  const double *an_cdf_lo, *an_cdf_hi;  // [E][N]
  // this step
  int t;
  std::int64_t items;
  const std::int64_t* impression_offset;  // [E+1] first flat impression of each env
  const std::int32_t* tile_offset;        // [E+1] first auction block of each env
  // state [E][N]
  const float* multiplier_in;
  float* multiplier;                 // = step_multiplier
  std::uint8_t* active;
  double *remaining, *cost, *value, *conversions, *reward_total;
  std::int64_t *wins, *exposures, *bid_count;
  double *step_cost, *step_value, *step_conversions, *step_reward;
  std::int32_t *step_wins, *step_exposures, *step_bid_count;
  float* observation;                // [E][N][kObservationWidth]
  std::int32_t* passes;              // [E][T]
  double* revenue;                   // [E]
  // step scratch
  SlotOutcome* outcome;              // [items]
  std::uint8_t* converted;           // [items]
  std::uint32_t* dropped;            // bits [impressions x C]
  std::uint8_t* dirty;               // [impressions]
  std::uint64_t* sort_keys_in;       // [items]
  std::uint64_t* sort_keys;          // [items] sorted
  std::uint32_t* sort_values_in;     // [items]
  std::uint32_t* sort_values;        // [items] sorted: outcome indices
  double* pass_cost;                 // [E][N]
  std::uint8_t* over;                // [E][N]
  std::int32_t* env_mode;            // [E] EnvMode
  std::int32_t* env_passes;          // [E] the CPU's `passes` counter
  std::int32_t* env_done;            // [E]
  std::int32_t* pending;             // [1] some env dropped wins this pass
};

// ----- small helpers -------------------------------------------------------------------------------

// Largest e with offset[e] <= x (offset has E+1 ascending entries).
template <class T>
__device__ __forceinline__ int segment_of(const T* offset, int E, T x) {
  int lo = 0, hi = E;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int mid = (lo + hi) >> 1;
    if (offset[mid] <= x) lo = mid;
    else hi = mid;
  }
  return lo;
}

// First position in sorted keys[0, n) whose key is >= x.
__device__ __forceinline__ std::int64_t lower_bound_key(const std::uint64_t* keys, std::int64_t n,
                                                        std::uint64_t x) {
  std::int64_t lo = 0, hi = n;
  while (lo < hi) {
    const std::int64_t mid = (lo + hi) >> 1;
    if (keys[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

__device__ __forceinline__ std::uint32_t draw_word(const Draw& d, int which) {
  return which == 0 ? d[0] : which == 1 ? d[1] : which == 2 ? d[2] : d[3];
}

__device__ __forceinline__ std::uint64_t warp_max(std::uint64_t x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const std::uint64_t y = __shfl_xor_sync(kFullMask, x, offset);
    x = y > x ? y : x;
  }
  return x;
}

__device__ __forceinline__ bool is_charged(const MarketView& v, const SlotOutcome& o) {
  return o.agent >= 0 && (o.exposed || !v.charge_on_exposure);
}

// ----- per-agent step start (cpu_backend.cpp step_env, first loop) --------------------------------

__global__ void prepare_agents_kernel(MarketView v) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.E) * v.N) return;
  const float m = v.multiplier_in[a];
  v.multiplier[a] = m > 0.0f ? m : 0.0f;  // also maps NaN to 0
  const double remaining = v.remaining[a];
  v.active[a] = remaining >= v.budget_floor && remaining > 0.0;
  v.step_bid_count[a] = 0;
}

// ----- one auction per warp (cpu_backend.cpp fill_candidates + rank_fast + run_auction) ----------

// Value of candidate `agent` (active) for impression j; the same functions as value_of().
__device__ __forceinline__ float candidate_value(const MarketView& v, int e, std::uint32_t genv, int j,
                                                 int category, int agent, std::int64_t file_row) {
  if (v.model == ValueModel::file) return v.file_value[file_row];
  const std::uint32_t word = value_word(v.seed, genv, static_cast<std::uint32_t>(v.t),
                                        static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(agent));
  if (v.model == ValueModel::auctionnet) {
    const std::size_t k = (static_cast<std::size_t>(e) * v.T + v.t) * v.N + agent;
    return auctionnet_pvalue(v.an_mean[k], v.an_std[k], word);
  }
  return procedural_value(v.value_scale[agent], v.agent_category[agent], category, v.distribution, v.sigma,
                          v.cross_category, word);
}

// Sparse candidates by Floyd's algorithm (cpu_backend.cpp sample_sparse): the picks are sequential,
// the "already chosen?" scan is spread over the warp.
__device__ void sample_sparse_warp(const MarketView& v, std::uint32_t genv, int j, int category, int lane,
                                   std::int32_t* out) {
  const std::int32_t* pool = v.members;
  int pool_size = v.N;
  if (v.within_category) {
    pool += v.member_offset[category];
    pool_size = v.member_offset[category + 1] - v.member_offset[category];
  }
  Draw d{};
  int chosen = 0;
  for (int m = pool_size - v.K; m < pool_size; ++m, ++chosen) {
    if ((chosen & 3) == 0)
      d = draw(v.seed, Purpose::candidate, genv, static_cast<std::uint32_t>(v.t), static_cast<std::uint32_t>(j),
               static_cast<std::uint32_t>(chosen >> 2));
    const std::int32_t pick = static_cast<std::int32_t>(uniform_below(draw_word(d, chosen & 3), m + 1));
    const std::int32_t candidate = pool[pick];
    bool seen = false;
    for (int q = lane; q < chosen; q += kWarp) seen |= out[q] == candidate;
    const bool duplicate = __any_sync(kFullMask, seen);
    __syncwarp();
    if (lane == 0) out[chosen] = duplicate ? pool[m] : candidate;
    __syncwarp();
  }
}

// Ranks and prices impression j of env e (flat index jf) with the whole warp. first_pass counts the
// qualifying bids; later passes skip dropped candidates. Lane 0 writes the S outcomes.
template <int Capacity>
__device__ void auction_warp(const MarketView& v, int e, int j, std::int64_t jf, bool first_pass, int lane,
                             std::int32_t* shared_count, std::int32_t* sparse_row) {
  const std::uint32_t genv = v.genv[e];
  const std::uint32_t t = static_cast<std::uint32_t>(v.t);
  const std::size_t en = static_cast<std::size_t>(e) * v.N;
  const float* multiplier = v.multiplier + en;
  const std::uint8_t* active = v.active + en;
  const int category = v.needs_category ? impression_category(v.seed, genv, v.t, j, v.categories) : 0;
  const std::uint64_t bit0 = static_cast<std::uint64_t>(jf) * static_cast<std::uint64_t>(v.C);

  int count = v.N;
  std::int64_t file_begin = 0;
  if (v.model == ValueModel::file) {
    const std::int64_t slot = v.file_step_offset[v.t] + j;
    file_begin = v.file_row_offset[slot];
    count = static_cast<int>(v.file_row_offset[slot + 1] - file_begin);
  } else if (v.mode == CandidateMode::sparse) {
    sample_sparse_warp(v, genv, j, category, lane, sparse_row);
    count = v.K;
  }
  const bool dense_drawn = v.model != ValueModel::file && v.mode == CandidateMode::dense;

  KeyTop<Capacity> keys;
  keys.clear();
  auto consider = [&](int k, int agent, float value) {
    const float bid = multiplier[agent] * value;
    bool qualifies = bid >= v.bid_floor && active[agent];
    if (first_pass) {
      if (qualifies) {
        if (shared_count) atomicAdd(&shared_count[agent], 1);
        else atomicAdd(&v.step_bid_count[en + agent], 1);
      }
    } else if (qualifies) {
      const std::uint64_t bit = bit0 + static_cast<std::uint64_t>(k);
      qualifies = !((v.dropped[bit >> 5] >> (bit & 31)) & 1u);
    }
    if (qualifies) keys.push(rank_key(bid, k));
  };

  if (dense_drawn) {
    // One Philox call per four agents, as value_word() lays the words out.
    for (int g = lane; 4 * g < v.N; g += kWarp) {
      const int a0 = 4 * g;
      const int last = v.N - a0 < 4 ? v.N - a0 : 4;
      bool any_active = false;
      for (int q = 0; q < last; ++q) any_active |= active[a0 + q] != 0;
      if (!any_active) continue;  // zero values never qualify (the CPU skips the draw too)
      const Draw d = draw(v.seed, Purpose::value, genv, t, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(g));
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if (q >= last) break;
        const int agent = a0 + q;
        float value = 0.0f;
        if (active[agent]) {
          if (v.model == ValueModel::auctionnet) {
            const std::size_t k = (static_cast<std::size_t>(e) * v.T + v.t) * v.N + agent;
            value = auctionnet_pvalue(v.an_mean[k], v.an_std[k], d[q]);
          } else {
            value = procedural_value(v.value_scale[agent], v.agent_category[agent], category, v.distribution,
                                     v.sigma, v.cross_category, d[q]);
          }
        }
        consider(agent, agent, value);
      }
    }
  } else if (v.model == ValueModel::file) {
    for (int k = lane; k < count; k += kWarp) consider(k, v.file_agent[file_begin + k], v.file_value[file_begin + k]);
  } else {
    for (int k = lane; k < count; k += kWarp) {
      const int agent = sparse_row[k];
      const float value = active[agent] ? candidate_value(v, e, genv, j, category, agent, 0) : 0.0f;
      consider(k, agent, value);
    }
  }

  // Warp merge: S+1 rounds of "largest head key wins and pops"; keys are unique (candidate in the
  // low bits), so exactly one lane pops per round and the result is KeyTop's over the whole row.
  const int keep = v.S + 1;
  KeyTop<Capacity> merged;
#pragma unroll
  for (int r = 0; r < Capacity; ++r) {
    merged.key[r] = 0;
    if (r < keep) {
      const std::uint64_t best = warp_max(keys.key[0]);
      merged.key[r] = best;
      if (best != 0 && keys.key[0] == best) {
#pragma unroll
        for (int s = 0; s + 1 < Capacity; ++s) keys.key[s] = keys.key[s + 1];
        keys.key[Capacity - 1] = 0;
      }
    }
  }
  if (lane != 0) return;

  auto agent_of = [&](int k) -> int {
    if (v.model == ValueModel::file) return v.file_agent[file_begin + k];
    return v.mode == CandidateMode::sparse ? sparse_row[k] : k;
  };
  TopBids top;
  if (!merged.to_top_bids(top, agent_of)) {
    // Equal bids among the kept ones: rank again with counter-based tie keys (rare), in one lane
    // over the row in candidate order, exactly as run_auction's fallback.
    auto tie_key = [&](int agent) {
      return draw(v.seed, Purpose::tie, genv, t, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(agent))[0];
    };
    top.clear(keep);
    for (int k = 0; k < count; ++k) {
      const int agent = agent_of(k);
      if (!active[agent]) continue;
      const float value = candidate_value(v, e, genv, j, category, agent, file_begin + k);
      const float bid = multiplier[agent] * value;
      if (!(bid >= v.bid_floor)) continue;
      if (!first_pass) {
        const std::uint64_t bit = bit0 + static_cast<std::uint64_t>(k);
        if ((v.dropped[bit >> 5] >> (bit & 31)) & 1u) continue;
      }
      top.offer(bid, k, agent, tie_key);
    }
  }
  bool shown = true;
  Draw exposure_draw{};
  SlotOutcome* out = v.outcome + jf * v.S;
  for (int slot = 0; slot < v.S; ++slot) {
    if (!v.always_exposed && (slot & 3) == 0)
      exposure_draw = draw(v.seed, Purpose::exposure, genv, t, static_cast<std::uint32_t>(j),
                           static_cast<std::uint32_t>(slot >> 2));
    shown = slot_exposed(v.exposure[slot], uniform01(draw_word(exposure_draw, slot & 3)), shown, v.cascade);
    SlotOutcome o;
    o.exposed = shown;
    const double price = slot_price(top, slot, v.reserve, v.unsold_at_reserve);
    if (price < 0.0) {
      o.agent = -1;
      o.candidate = -1;
      o.price = 0.0f;
      o.value = 0.0f;
    } else {
      const RankedBid& winner = top.entry[slot];
      o.agent = winner.agent;
      o.candidate = winner.candidate;
      o.price = static_cast<float>(price);
      o.value = candidate_value(v, e, genv, j, category, winner.agent, file_begin + winner.candidate);
    }
    out[slot] = o;
  }
}

// Blocks own tiles of kImpressionsPerBlock impressions of one environment (tile_offset), so the
// first pass can count bids in a shared histogram and add it to the env's counts once per block.
template <int Capacity>
__global__ void __launch_bounds__(kAuctionThreads) auction_kernel(MarketView v, bool first_pass) {
  std::int32_t* const shared = dynamic_shared<std::int32_t>();
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int e = segment_of(v.tile_offset, v.E, static_cast<std::int32_t>(blockIdx.x));
  const int tile = static_cast<int>(blockIdx.x) - v.tile_offset[e];
  const std::int64_t env_first = v.impression_offset[e];
  const int M = static_cast<int>(v.impression_offset[e + 1] - env_first);
  const bool use_shared_count = first_pass && v.shared_bid_count;
  std::int32_t* count = use_shared_count ? shared : nullptr;
  std::int32_t* sparse_row = shared + (v.shared_bid_count ? v.N : 0) + warp * v.K;
  if (use_shared_count) {
    for (int i = threadIdx.x; i < v.N; i += blockDim.x) count[i] = 0;
    __syncthreads();
  }
  for (int r = 0; r < kImpressionsPerWarp; ++r) {
    const int j = tile * kImpressionsPerBlock + r * kAuctionWarpsPerBlock + warp;
    if (j >= M) break;
    const std::int64_t jf = env_first + j;
    if (!first_pass && !v.dirty[jf]) continue;
    auction_warp<Capacity>(v, e, j, jf, first_pass, lane, count, sparse_row);
    __syncwarp();
    if (!first_pass && lane == 0) v.dirty[jf] = 0;
  }
  if (use_shared_count) {
    __syncthreads();
    std::int32_t* global = v.step_bid_count + static_cast<std::size_t>(e) * v.N;
    for (int i = threadIdx.x; i < v.N; i += blockDim.x)
      if (count[i] != 0) atomicAdd(&global[i], count[i]);
  }
}

// ----- ordering outcomes by owner (the CPU's per-agent sums run in impression order) -------------

// Key: the owner (e x N + agent; E x N for unsold) in the high word. A stable sort on it lists each
// agent's outcomes in outcome-index order = (impression, slot) order, the CPU's summation order.
__global__ void owner_keys_kernel(MarketView v) {
  const std::int64_t q = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= v.items) return;
  const SlotOutcome& o = v.outcome[q];
  std::uint64_t owner = static_cast<std::uint64_t>(v.E) * v.N;
  if (o.agent >= 0) {
    const int e = segment_of(v.impression_offset, v.E, q / v.S);
    owner = static_cast<std::uint64_t>(e) * v.N + o.agent;
  }
  v.sort_keys_in[q] = owner << 32;
  v.sort_values_in[q] = static_cast<std::uint32_t>(q);
}

// [begin, end) of owner `a`'s outcomes in the sorted order.
__device__ __forceinline__ void owner_segment(const MarketView& v, std::uint64_t a, std::int64_t& begin,
                                              std::int64_t& end) {
  begin = lower_bound_key(v.sort_keys, v.items, a << 32);
  end = lower_bound_key(v.sort_keys, v.items, (a + 1) << 32);
}

// cpu_backend.cpp total_cost + the "who overspends" scan, per agent: the charged prices summed in
// impression order. Envs already settled this step are skipped.
__global__ void pass_cost_kernel(MarketView v) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.E) * v.N) return;
  const int e = static_cast<int>(a / v.N), i = static_cast<int>(a % v.N);
  if (v.env_done[e]) return;
  std::int64_t begin, end;
  owner_segment(v, static_cast<std::uint64_t>(a), begin, end);
  double sum = 0.0;
  for (std::int64_t k = begin; k < end; ++k) {
    const SlotOutcome o = v.outcome[v.sort_values[k]];
    if (o.agent == i && is_charged(v, o)) sum += o.price;
  }
  v.pass_cost[a] = sum;
  v.over[a] = sum > v.remaining[a];
}

// The decision at the top of each pass of cpu_backend.cpp auctionnet_overspend (or the truncate
// rule): one block per env ORs its agents' overspend flags.
__global__ void env_decide_kernel(MarketView v, bool auctionnet_rule) {
  const int e = blockIdx.x;
  if (v.env_done[e]) return;  // uniform per block
  int mine = 0;
  for (int i = threadIdx.x; i < v.N; i += blockDim.x) mine |= v.over[static_cast<std::size_t>(e) * v.N + i];
  const int any_over = __syncthreads_or(mine);
  if (threadIdx.x != 0) return;
  if (!any_over) {
    v.env_mode[e] = kEnvIdle;
    v.env_done[e] = 1;
    v.passes[static_cast<std::size_t>(e) * v.T + v.t] = v.env_passes[e];
  } else if (!auctionnet_rule || v.env_passes[e] > v.max_passes) {
    v.env_mode[e] = kEnvTruncate;
  } else {
    v.env_mode[e] = kEnvDrop;
    *v.pending = 1;
  }
}

// cpu_backend.cpp truncate_overspend per overspending agent: walk its charged wins in impression
// order and void each one that would take it past its remaining budget. Settles the env.
__global__ void truncate_kernel(MarketView v) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.E) * v.N) return;
  const int e = static_cast<int>(a / v.N), i = static_cast<int>(a % v.N);
  if (v.env_done[e] || v.env_mode[e] != kEnvTruncate || !v.over[a]) return;
  std::int64_t begin, end;
  owner_segment(v, static_cast<std::uint64_t>(a), begin, end);
  const double remaining = v.remaining[a];
  double running = 0.0;
  for (std::int64_t k = begin; k < end; ++k) {
    SlotOutcome& o = v.outcome[v.sort_values[k]];
    if (o.agent != i || !is_charged(v, o)) continue;
    if (running + o.price > remaining) o.agent = -1;
    else running += o.price;
  }
}

// Marks the truncating envs settled (after truncate_kernel) with the pass count the CPU returns.
__global__ void finish_truncate_kernel(MarketView v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= v.E || v.env_done[e] || v.env_mode[e] != kEnvTruncate) return;
  v.env_done[e] = 1;
  v.env_mode[e] = kEnvIdle;
  v.passes[static_cast<std::size_t>(e) * v.T + v.t] = v.env_passes[e];
}

// AuctionNet drop selection keys: bucket (env, agent, slot) high, the pass's counter-based drop
// key low; a stable sort then orders each bucket by (key, impression) like the CPU's nth_element.
__global__ void drop_keys_kernel(MarketView v) {
  const std::int64_t q = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= v.items) return;
  const SlotOutcome& o = v.outcome[q];
  const std::uint64_t none = static_cast<std::uint64_t>(v.E) * v.N * v.S;
  std::uint64_t key = none << 32;
  if (o.agent >= 0) {
    const std::int64_t jf = q / v.S;
    const int e = segment_of(v.impression_offset, v.E, jf);
    const std::size_t a = static_cast<std::size_t>(e) * v.N + o.agent;
    if (v.env_mode[e] == kEnvDrop && v.over[a]) {
      const int j = static_cast<int>(jf - v.impression_offset[e]);
      const std::uint32_t drop_key = draw(v.seed, Purpose::drop, v.genv[e], static_cast<std::uint32_t>(v.t),
                                          static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(o.agent),
                                          static_cast<std::uint32_t>(v.env_passes[e]))[0];
      const std::uint64_t bucket = static_cast<std::uint64_t>(a) * v.S + static_cast<std::uint64_t>(q % v.S);
      key = (bucket << 32) | drop_key;
    }
  }
  v.sort_keys_in[q] = key;
  v.sort_values_in[q] = static_cast<std::uint32_t>(q);
}

// Drops the first ceil(ratio x wins) of each sorted bucket: sets the (impression, candidate) bit
// and marks the impression for re-auction.
__global__ void mark_drops_kernel(MarketView v) {
  const std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= v.items) return;
  const std::uint64_t bucket = v.sort_keys[k] >> 32;
  if (bucket >= static_cast<std::uint64_t>(v.E) * v.N * v.S) return;
  const std::int64_t begin = lower_bound_key(v.sort_keys, v.items, bucket << 32);
  const std::int64_t end = lower_bound_key(v.sort_keys, v.items, (bucket + 1) << 32);
  const std::int32_t wins = static_cast<std::int32_t>(end - begin);
  const std::size_t a = bucket / v.S;
  const double ratio_raw = (v.pass_cost[a] - v.remaining[a]) / (v.pass_cost[a] + 1e-4);
  const double ratio = ratio_raw > 0.0 ? ratio_raw : 0.0;
  const std::int32_t ceiled = static_cast<std::int32_t>(ceil(ratio * wins));
  const std::int32_t drop = wins < ceiled ? wins : ceiled;
  if (k - begin >= drop) return;
  const std::uint32_t q = v.sort_values[k];
  const std::int64_t jf = q / v.S;
  const std::uint64_t bit = static_cast<std::uint64_t>(jf) * v.C + static_cast<std::uint64_t>(v.outcome[q].candidate);
  atomicOr(&v.dropped[bit >> 5], 1u << (bit & 31));
  v.dirty[jf] = 1;
}

// After the re-auction: the dropping envs go on to their next pass (the CPU's ++passes).
__global__ void advance_passes_kernel(MarketView v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= v.E || v.env_mode[e] != kEnvDrop) return;
  v.env_mode[e] = kEnvIdle;
  ++v.env_passes[e];
}

__global__ void start_passes_kernel(MarketView v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= v.E) return;
  v.env_mode[e] = kEnvIdle;
  v.env_passes[e] = 1;
  v.env_done[e] = 0;
}

// ----- settle (cpu_backend.cpp settle) ---------------------------------------------------------------

// Conversion of every exposed sold slot, in parallel; the per-agent sums below only add the flags.
__global__ void conversions_kernel(MarketView v) {
  const std::int64_t q = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= v.items) return;
  const SlotOutcome o = v.outcome[q];
  std::uint8_t converted = 0;
  if (o.agent >= 0 && o.exposed) {
    const std::int64_t jf = q / v.S;
    const int e = segment_of(v.impression_offset, v.E, jf);
    const int j = static_cast<int>(jf - v.impression_offset[e]);
    const Draw cd = draw(v.seed, Purpose::conversion, v.genv[e], static_cast<std::uint32_t>(v.t),
                         static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(o.agent));
    if (v.model == ValueModel::auctionnet) {
      const std::size_t a = static_cast<std::size_t>(e) * v.N + o.agent;
      converted = auctionnet_converts(o.value, v.an_sigma_mean[a], v.sigma_cap, v.an_bound_lo[a], v.an_bound_hi[a],
                                      v.an_cdf_lo[a], v.an_cdf_hi[a], cd);
    } else {
      converted = plain_converts(o.value, cd);
    }
  }
  v.converted[q] = converted;
}

// Per agent, its final outcomes in impression order: the step's wins, cost, exposures, value and
// conversions, then the reward and the episode totals, with the CPU's operations in its order.
__global__ void settle_kernel(MarketView v) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.E) * v.N) return;
  const int i = static_cast<int>(a % v.N);
  std::int64_t begin = 0, end = 0;
  if (v.items > 0) owner_segment(v, static_cast<std::uint64_t>(a), begin, end);
  double cost = 0.0, value = 0.0, conversions = 0.0;
  std::int32_t wins = 0, exposures = 0;
  for (std::int64_t k = begin; k < end; ++k) {
    const std::uint32_t q = v.sort_values[k];
    const SlotOutcome o = v.outcome[q];
    if (o.agent != i) continue;  // voided by the truncate rule after the sort
    ++wins;
    if (is_charged(v, o)) cost += o.price;
    if (!o.exposed) continue;
    ++exposures;
    value += o.value;
    conversions += v.converted[q] ? 1.0 : 0.0;
  }
  double r = value;
  if (v.reward == RewardKind::utility) r = value - cost;
  else if (v.reward == RewardKind::conversions) r = conversions;
  v.step_cost[a] = cost;
  v.step_value[a] = value;
  v.step_conversions[a] = conversions;
  v.step_wins[a] = wins;
  v.step_exposures[a] = exposures;
  v.step_reward[a] = r;
  v.reward_total[a] += r;
  v.remaining[a] -= cost;
  v.cost[a] += cost;
  v.value[a] += value;
  v.conversions[a] += conversions;
  v.wins[a] += wins;
  v.exposures[a] += exposures;
  v.bid_count[a] += v.step_bid_count[a];
}

// Revenue of each env: one block per env, each thread a strided partial sum, then a fixed tree, so
// the result is the same run after run (the CPU sums agents sequentially: see the tolerance in
// tests/test_cuda.cpp).
__global__ void revenue_kernel(MarketView v) {
  __shared__ double partial[kElementThreads];
  const int e = blockIdx.x;
  double sum = 0.0;
  for (int i = threadIdx.x; i < v.N; i += blockDim.x) sum += v.step_cost[static_cast<std::size_t>(e) * v.N + i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kElementThreads / 2; width > 0; width >>= 1) {
    if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) v.revenue[e] += partial[0];
}

// observation.cpp write_observations, per agent, through the shared observe_agent().
__global__ void observations_kernel(MarketView v, int step) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.E) * v.N) return;
  const int i = static_cast<int>(a % v.N);
  const AgentObservationStatics statics{v.obs_category[i], v.obs_value_scale[i], v.obs_budget_level[i],
                                        v.obs_cpa_level[i], v.obs_budget_denominator[i], v.obs_bounded[i] != 0};
  const AgentObservationState state{v.remaining[a], v.step_cost[a], v.step_value[a], v.cost[a],
                                    v.step_wins[a], v.step_bid_count[a], v.wins[a], v.bid_count[a]};
  observe_agent(statics, state, step, v.T, v.observation + a * kObservationWidth);
}

}  // namespace bidsim::cuda
