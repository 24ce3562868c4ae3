// The market step's kernels, each mirroring one part of engine/cpu/cpu_backend.cpp (cited per kernel),
// built on the shared host+device physics (physics.hpp, rng.hpp, observation_physics.hpp) so the
// arithmetic is the CPU's own code. Launchers are in cuda_backend.cu. Determinism: no float atomics;
// money is exact (engine/core/money.hpp: int64 ticks), so per-agent sums are integer atomics over the
// outcomes, aggregated per block in shared memory, in any order: the CPU's sums bit for bit, with no
// owner sort and no thread walking one agent's outcomes.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/launch.cuh"
#include "engine/core/config_types.hpp"
#include "engine/core/drop_floor.hpp"
#include "engine/core/market_fields.hpp"
#include "engine/core/market_params.hpp"
#include "engine/core/observation_physics.hpp"
#include "engine/core/physics.hpp"
#include "engine/core/rng.hpp"
#include "engine/core/slot_outcome.hpp"

namespace bidsim::cuda {

constexpr int kWarp = 32;
constexpr int kAuctionWarpsPerBlock = 8;
constexpr int kAuctionThreads = kAuctionWarpsPerBlock * kWarp;
// The auction kernel's lane groups (cuda/auction_lanes.hpp): each impression is ranked by a group of
// `group_lanes` lanes (a power of two, 1..32), so a block runs kAuctionThreads / group_lanes
// impressions at once; a tile is kAuctionRoundsPerTile such rounds of one env.
constexpr int kAuctionRoundsPerTile = 4;
BIDSIM_HD constexpr int auction_groups_per_block(int group_lanes) { return kAuctionThreads / group_lanes; }
BIDSIM_HD constexpr int impressions_per_tile(int group_lanes) {
  return kAuctionRoundsPerTile * auction_groups_per_block(group_lanes);
}
// The auction kernel's persistent grid: at most this many blocks per multiprocessor, which is also
// its __launch_bounds__ occupancy target (4 x 256 threads = half of an H100/H200 SM's 2048, so
// ptxas keeps it within 64 registers per thread; docs/gpu-design.md has the ptxas figures).
constexpr int kAuctionBlocksPerSM = 4;
constexpr int kElementThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;
// Per-agent money sums over the outcomes: each block takes this many outcomes (kElementThreads
// threads, a grid-stride loop inside the block) and aggregates its first environment's agents in
// shared memory when N is at most kMaxSharedSumAgents (5 int64 fields x N within 48 KB).
constexpr int kOutcomesPerSumBlock = 2048;
constexpr int kMaxSharedSumAgents = 1024;
// The drop selection's bucket scan runs in one block of this many threads; its select runs at most
// kSelectBlocks blocks, each a grid-stride loop over the buckets.
constexpr int kScanThreads = 1024;
constexpr int kSelectBlocks = 128;
// Passes of the AuctionNet rule run on the whole grid in every step before overspend_tail_kernel
// finishes the rule one block per env (cuda_backend.cpp auctionnet_overspend): most steps of the
// AuctionNet preset end within two passes, and the first re-auctions are the large ones.
constexpr int kGridPasses = 2;

// The words of MarketView::control, the overspend rule's state on the device.
enum ControlWord : int {
  kPending = 0,       // some env drops wins this pass (zeroed before each decision)
  kOverspenders = 1,  // overspenders numbered this decision (their dense ids; zeroed with kPending)
  kOpenEnvs = 2,      // envs whose rule has not ended this step (E at the first pass)
  kControlWords = 3,
};


// What the overspend rule does in an environment this pass.
enum EnvMode : std::int32_t { kEnvIdle = 0, kEnvDrop = 1, kEnvTruncate = 2 };

// Everything a kernel reads or writes, as trivially copyable pointers + scalars. Shapes: [E][N]
// per-agent arrays in env-major order; `items` = total impressions of the step x S.
struct MarketView {
  MarketParams params;    // the scenario's scalars (engine/core/market_params.hpp), as the CPU backend reads them
  bool shared_bid_count;  // count bids in a per-block shared histogram (N small enough)
  // scenario constants
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
  // per-impression bids (engine/core/impression_bids.hpp), all null in a multiplier step
  const float* bids;                 // [impressions][N] flat rows of this step
  double* least_cost;                // [impressions] least winning cost of the final pass
  bool record_conversions;           // settle writes SlotOutcome::converted (a bids step's outcomes)
  // The market state (MarketState's fields) and the device-only state, one pointer per field of the
  // lists in engine/core/market_fields.hpp, named as there, with the shapes listed there.
#define BIDSIM_VIEW_POINTER(name, type, shape, zeroed) type* name;
  BIDSIM_MARKET_STATE_FIELDS(BIDSIM_VIEW_POINTER)
  BIDSIM_DEVICE_STATE_FIELDS(BIDSIM_VIEW_POINTER)
#undef BIDSIM_VIEW_POINTER
  // step scratch
  SlotOutcome* outcome;              // [items]
  std::int32_t* drop_floor;          // [impressions] the lowest-ranked candidate that was a ranked winner
                                     // this step (engine/core/drop_floor.hpp; the winners: outcome.candidate)
  std::uint8_t* dirty;               // [impressions]
  std::uint64_t* drop_key;           // [items] bucketed wins: (drop key << 32) | impression
  std::uint32_t* drop_index;         // [items] bucketed wins: outcome index
  std::int32_t* control;             // [kControlWords] ControlWord
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

// The lanes that rank one impression: `width` consecutive lanes of a warp (a power of two), whose
// shuffles and votes name only them, so the groups of a warp run apart (on their own impressions,
// with their own loop counts) and meet only where the whole warp votes.
struct LaneGroup {
  int width;      // lanes in the group
  int rank;       // this lane's position in it; 0 is the leader, which runs the serial tail
  int index;      // the group's position in its block
  unsigned mask;  // the group's lanes within the warp
  __device__ __forceinline__ bool leader() const { return rank == 0; }
};

__device__ __forceinline__ LaneGroup lane_group(int width) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  const int first = lane & ~(width - 1);
  const unsigned lanes = width == kWarp ? kFullMask : ((1u << width) - 1u) << first;
  return {width, lane - first, static_cast<int>(threadIdx.x) / width, lanes};
}

// The lowest `count` set bits of `bits` cleared.
__device__ __forceinline__ unsigned drop_low_bits(unsigned bits, int count) {
  for (; count > 0 && bits != 0; --count) bits &= bits - 1;
  return bits;
}

__device__ __forceinline__ std::uint64_t group_max(const LaneGroup& g, std::uint64_t x) {
  for (int offset = g.width / 2; offset > 0; offset >>= 1) {
    const std::uint64_t y = __shfl_xor_sync(g.mask, x, offset, g.width);
    x = y > x ? y : x;
  }
  return x;
}

__device__ __forceinline__ bool is_charged(const MarketView& v, const SlotOutcome& o) {
  return is_charged(o, v.params.charge_on_exposure);
}

// ----- per-agent step start (cpu_backend.cpp step_env, first loop) --------------------------------

__global__ void prepare_agents_kernel(MarketView v) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.params.E) * v.params.N) return;
  const float m = v.bids ? 0.0f : v.multiplier_in[a];  // a bids step records multiplier 0
  v.step_multiplier[a] = m > 0.0f ? m : 0.0f;  // also maps NaN to 0
  const Money remaining = v.remaining_money[a];
  v.active[a] = remaining >= v.params.budget_floor && remaining > 0;
  v.step_bid_count[a] = 0;
}

// ----- one auction per lane group (cpu_backend.cpp fill_candidates + rank_fast + run_auction) ------

// Value of candidate `agent` (active) for impression j: its file row, or physics.hpp drawn_value as
// the CPU backend's value_of.
__device__ __forceinline__ float candidate_value(const MarketView& v, int e, std::uint32_t genv, int j,
                                                 int category, int agent, std::int64_t file_row) {
  if (v.params.model == ValueModel::file) return v.file_value[file_row];
  const std::uint32_t word = value_word(v.params.seed, genv, static_cast<std::uint32_t>(v.t),
                                        static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(agent));
  return drawn_value(v.params, v.an_mean, v.an_std, v.value_scale, v.agent_category, e, v.t, category, agent, word);
}

// Sparse candidates by Floyd's algorithm (cpu_backend.cpp sample_sparse): the picks are sequential,
// the "already chosen?" scan is spread over the lane group.
__device__ void sample_sparse_group(const MarketView& v, std::uint32_t genv, int j, int category,
                                    const LaneGroup& group, std::int32_t* out) {
  const std::int32_t* pool = v.members;
  int pool_size = v.params.N;
  if (v.params.within_category) {
    pool += v.member_offset[category];
    pool_size = v.member_offset[category + 1] - v.member_offset[category];
  }
  Draw d{};
  int chosen = 0;
  for (int m = pool_size - v.params.K; m < pool_size; ++m, ++chosen) {
    if ((chosen & 3) == 0)
      d = draw(v.params.seed, Purpose::candidate, genv, static_cast<std::uint32_t>(v.t), static_cast<std::uint32_t>(j),
               static_cast<std::uint32_t>(chosen >> 2));
    const std::int32_t pick = static_cast<std::int32_t>(uniform_below(draw_word(d, chosen & 3), m + 1));
    const std::int32_t candidate = pool[pick];
    bool seen = false;
    for (int q = group.rank; q < chosen; q += group.width) seen |= out[q] == candidate;
    const bool duplicate = __any_sync(group.mask, seen);
    __syncwarp(group.mask);
    if (group.leader()) out[chosen] = duplicate ? pool[m] : candidate;
    __syncwarp(group.mask);
  }
}

// Ranks and prices impression j of env e (flat index jf) with one lane group (sparse_row: the
// group's shared row of K candidates). first_pass counts the qualifying bids; a re-auction ranks the
// surviving winners, then the candidates below the drop floor (engine/core/drop_floor.hpp, as
// cpu_backend.cpp rank_again_n). The group's leader writes the S outcomes and the impression's drop
// state.
template <int Capacity>
__device__ void auction_group(const MarketView& v, int e, int j, std::int64_t jf, bool first_pass,
                              const LaneGroup& group, std::int32_t* shared_count, std::int32_t* sparse_row) {
  const std::uint32_t genv = v.genv[e];
  const std::uint32_t t = static_cast<std::uint32_t>(v.t);
  const std::size_t en = static_cast<std::size_t>(e) * v.params.N;
  const float* multiplier = v.step_multiplier + en;
  const std::uint8_t* active = v.active + en;
  const int category = v.params.needs_category ? impression_category(v.params.seed, genv, v.t, j, v.params.categories) : 0;

  int count = v.params.N;
  std::int64_t file_begin = 0;
  if (v.params.model == ValueModel::file) {
    const std::int64_t slot = v.file_step_offset[v.t] + j;
    file_begin = v.file_row_offset[slot];
    count = static_cast<int>(v.file_row_offset[slot + 1] - file_begin);
  } else if (v.params.mode == CandidateMode::sparse) {
    sample_sparse_group(v, genv, j, category, group, sparse_row);
    count = v.params.K;
  }
  const bool dense_drawn = v.params.model != ValueModel::file && v.params.mode == CandidateMode::dense;

  const float* bid_row = v.bids ? v.bids + static_cast<std::size_t>(jf) * v.params.N : nullptr;
  auto agent_of = [&](int k) -> int {
    if (v.params.model == ValueModel::file) return v.file_agent[file_begin + k];
    return v.params.mode == CandidateMode::sparse ? sparse_row[k] : k;
  };
  auto bid_of = [&](int k) {  // a candidate of the row, drawn again (an active agent's)
    const int agent = agent_of(k);
    return bid_row ? bid_row[agent] : multiplier[agent] * candidate_value(v, e, genv, j, category, agent, file_begin + k);
  };
  auto tie_key = [&](int agent) {
    return draw(v.params.seed, Purpose::tie, genv, t, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(agent))[0];
  };
  SlotOutcome* const out = v.outcome + jf * v.params.S;
  int survivors = 0;
  DropFloor floor{0.0f, kNoWinner, 0};
  if (!first_pass) {
    for (int r = 0; r < v.params.S; ++r) survivors += out[r].candidate != kNoWinner;
    const int floor_candidate = v.drop_floor[jf];
    floor = {bid_of(floor_candidate), floor_candidate, agent_of(floor_candidate)};
  }

  KeyTop<Capacity> keys;
  keys.clear();
  auto consider = [&](int k, int agent, float value) {
    const float bid = bid_row ? bid_row[agent] : multiplier[agent] * value;
    bool qualifies = bid >= v.params.bid_floor && active[agent];
    if (first_pass) {
      if (qualifies) {
        if (shared_count) atomicAdd(&shared_count[agent], 1);
        else atomicAdd(&v.step_bid_count[en + agent], 1);
      }
    } else if (qualifies) {
      qualifies = ranks_below_floor(bid, k, agent, floor, tie_key);
    }
    if (qualifies) keys.push(rank_key(bid, k));
  };

  if (dense_drawn) {
    // One Philox call per four agents, as value_word() lays the words out.
    for (int g = group.rank; 4 * g < v.params.N; g += group.width) {
      const int a0 = 4 * g;
      const int last = v.params.N - a0 < 4 ? v.params.N - a0 : 4;
      bool any_active = false;
      for (int q = 0; q < last; ++q) any_active |= active[a0 + q] != 0;
      if (!any_active) continue;  // zero values never qualify (the CPU skips the draw too)
      const Draw d = draw(v.params.seed, Purpose::value, genv, t, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(g));
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if (q >= last) break;
        const int agent = a0 + q;
        float value = 0.0f;
        if (active[agent]) {
          if (v.params.model == ValueModel::auctionnet) {
            const std::size_t k = (static_cast<std::size_t>(e) * v.params.T + v.t) * v.params.N + agent;
            value = auctionnet_pvalue(v.an_mean[k], v.an_std[k], d[q]);
          } else {
            value = procedural_value(v.value_scale[agent], v.agent_category[agent], category, v.params.distribution,
                                     v.params.sigma, v.params.cross_category, d[q]);
          }
        }
        consider(agent, agent, value);
      }
    }
  } else if (v.params.model == ValueModel::file) {
    for (int k = group.rank; k < count; k += group.width)
      consider(k, v.file_agent[file_begin + k], v.file_value[file_begin + k]);
  } else {
    for (int k = group.rank; k < count; k += group.width) {
      const int agent = sparse_row[k];
      const float value = active[agent] ? candidate_value(v, e, genv, j, category, agent, 0) : 0.0f;
      consider(k, agent, value);
    }
  }

  // Group merge: S+1 (less the surviving winners) rounds of "largest head key wins and pops"; keys
  // are unique (candidate in the low bits), so exactly one lane pops per round and the result is
  // KeyTop's over the whole row.
  const int keep = v.params.S + 1 - survivors;
  KeyTop<Capacity> merged;
#pragma unroll
  for (int r = 0; r < Capacity; ++r) {
    merged.key[r] = 0;
    if (r < keep) {
      const std::uint64_t best = group_max(group, keys.key[0]);
      merged.key[r] = best;
      if (best != 0 && keys.key[0] == best) {
#pragma unroll
        for (int s = 0; s + 1 < Capacity; ++s) keys.key[s] = keys.key[s + 1];
        keys.key[Capacity - 1] = 0;
      }
    }
  }
  if (!group.leader()) return;

  TopBids top;
  top.clear(v.params.S + 1);
  if (!first_pass) start_reauction(top, out, v.params.S, bid_of, agent_of);
  if (!merged.append_to(top, agent_of)) {
    // Equal bids among the merged ones: rank again with counter-based tie keys (rare), in the leader
    // over the row in candidate order, exactly as run_auction's fallback (a re-auction: those below
    // the floor, after the survivors, as rank_again_n).
    top.count = survivors;
    for (int k = 0; k < count; ++k) {
      const int agent = agent_of(k);
      if (!active[agent]) continue;
      const float value = candidate_value(v, e, genv, j, category, agent, file_begin + k);
      const float bid = bid_row ? bid_row[agent] : multiplier[agent] * value;
      if (!(bid >= v.params.bid_floor)) continue;
      if (!first_pass && !ranks_below_floor(bid, k, agent, floor, tie_key)) continue;
      top.offer(bid, k, agent, tie_key);
    }
  }
  v.drop_floor[jf] = next_drop_floor(top, v.params.S, survivors, first_pass, first_pass ? kNoWinner : floor.candidate);
  if (v.least_cost) v.least_cost[jf] = to_units(to_money(least_winning_cost(top, v.params.S, v.params.reserve)));  // exact money
  allocate_slots(v.params, top, genv, v.t, j, [&](int slot, bool shown, double price) {
    SlotOutcome o;
    o.exposed = shown;
    o.converted = false;  // settle records it only in a bids step; never a stale byte in the download
    o.candidate = ranked_winner(top, slot);
    if (price < 0.0) {
      o.agent = -1;
      o.price = 0;
      o.value = 0.0f;
    } else {
      const RankedBid& winner = top.entry[slot];
      o.agent = winner.agent;
      o.price = to_money(price);
      o.value = candidate_value(v, e, genv, j, category, winner.agent, file_begin + winner.candidate);
    }
    out[slot] = o;
  });
}

// Adds a block's shared bid counts of env e to its global counts (one atomic per agent with a
// nonzero count) and zeroes them for the next env. Uniform over the block.
__device__ __forceinline__ void flush_bid_counts(const MarketView& v, int e, std::int32_t* count) {
  __syncthreads();
  std::int32_t* global = v.step_bid_count + static_cast<std::size_t>(e) * v.params.N;
  for (int i = threadIdx.x; i < v.params.N; i += blockDim.x)
    if (count[i] != 0) {
      atomicAdd(&global[i], count[i]);
      count[i] = 0;
    }
  __syncthreads();
}

// Persistent blocks (issue 15 item 3): the launch has at most kAuctionBlocksPerSM blocks per
// multiprocessor, and block b takes the contiguous tiles [b x tiles / grid, (b + 1) x tiles / grid)
// of impressions_per_tile(group_lanes) impressions (an env's tiles are contiguous, tile_offset), so a
// block meets few envs. Within a tile, lane group k of the block ranks impressions k, k + groups,
// k + 2 x groups, ... (groups = auction_groups_per_block), each on its own: a group that finishes
// early takes its next impression while the other groups of its warp are still ranking. The first
// pass counts bids in a shared histogram, flushed once per env the block leaves (flush_bid_counts),
// not once per tile.
template <int Capacity>
__global__ void __launch_bounds__(kAuctionThreads, kAuctionBlocksPerSM)
    auction_kernel(MarketView v, bool first_pass, int group_lanes) {
  if (!first_pass && v.control[kPending] == 0) return;  // a re-auction enqueued past the rule's end
  std::int32_t* const shared = dynamic_shared<std::int32_t>();
  const LaneGroup group = lane_group(group_lanes);
  const int groups = auction_groups_per_block(group_lanes), per_tile = impressions_per_tile(group_lanes);
  const std::int64_t tiles = v.tile_offset[v.params.E];
  const int first_tile = static_cast<int>(blockIdx.x * tiles / gridDim.x);
  const int last_tile = static_cast<int>((blockIdx.x + 1) * tiles / gridDim.x);
  if (first_tile >= last_tile) return;  // uniform per block
  const bool use_shared_count = first_pass && v.shared_bid_count;
  std::int32_t* count = use_shared_count ? shared : nullptr;
  std::int32_t* sparse_row = shared + (v.shared_bid_count ? v.params.N : 0) + group.index * v.params.K;
  if (use_shared_count) {
    for (int i = threadIdx.x; i < v.params.N; i += blockDim.x) count[i] = 0;
    __syncthreads();
  }
  int e = segment_of(v.tile_offset, v.params.E, static_cast<std::int32_t>(first_tile));
  for (int block_tile = first_tile; block_tile < last_tile; ++block_tile) {
    if (block_tile >= v.tile_offset[e + 1]) {  // the next env with tiles (uniform per block)
      if (use_shared_count) flush_bid_counts(v, e, count);
      e = segment_of(v.tile_offset, v.params.E, static_cast<std::int32_t>(block_tile));
    }
    const int tile = block_tile - v.tile_offset[e];
    const std::int64_t env_first = v.impression_offset[e];
    const int M = static_cast<int>(v.impression_offset[e + 1] - env_first);
    for (int r = 0; r < kAuctionRoundsPerTile; ++r) {
      const int j = tile * per_tile + r * groups + group.index;
      if (j >= M) break;  // uniform per group
      const std::int64_t jf = env_first + j;
      if (!first_pass && !v.dirty[jf]) continue;
      auction_group<Capacity>(v, e, j, jf, first_pass, group, count, sparse_row);
      __syncwarp(group.mask);  // the leader's tail reads the sparse row before the next sampling rewrites it
      if (!first_pass && group.leader()) v.dirty[jf] = 0;
    }
  }
  if (use_shared_count) flush_bid_counts(v, e, count);
}

// ----- exact per-agent sums over the outcomes ------------------------------------------------------

// Integer atomic add of exact money (two's complement: the unsigned add is the signed one).
__device__ __forceinline__ void add_money(Money* address, Money x) {
  atomicAdd(reinterpret_cast<unsigned long long*>(address), static_cast<unsigned long long>(x));
}

// The outcomes [first, last) of one sum block and the environment of its first outcome, whose
// agents the block aggregates in shared memory (outcomes of later environments go straight to
// global atomics: with small environments a block spans several).
struct SumBlock {
  std::int64_t first, last;
  int shared_env;  // -1 when the block does not aggregate in shared memory
};

__device__ __forceinline__ SumBlock sum_block(const MarketView& v, bool use_shared) {
  SumBlock b;
  b.first = static_cast<std::int64_t>(blockIdx.x) * kOutcomesPerSumBlock;
  b.last = b.first + kOutcomesPerSumBlock < v.items ? b.first + kOutcomesPerSumBlock : v.items;
  const int e = segment_of(v.impression_offset, v.params.E, b.first / v.params.S);
  b.shared_env = use_shared ? e : -1;
  return b;
}

// Adds `x` to field `field` of agent `agent` of env `e` (global array `global`, [E][N]): into the
// block's shared row when e is the block's shared environment.
template <class T>
__device__ __forceinline__ void add_agent(const MarketView& v, const SumBlock& b, T* shared_field, T* global,
                                          int e, int agent, T x) {
  if (e == b.shared_env) atomicAdd(&shared_field[agent], x);
  else atomicAdd(&global[static_cast<std::size_t>(e) * v.params.N + agent], x);
}

// Flushes a block's shared row of one field into the global [E][N] array (nonzero entries only).
template <class T>
__device__ __forceinline__ void flush_agents(const MarketView& v, const SumBlock& b, const T* shared_field,
                                             T* global) {
  if (b.shared_env < 0) return;
  T* row = global + static_cast<std::size_t>(b.shared_env) * v.params.N;
  for (int i = threadIdx.x; i < v.params.N; i += blockDim.x)
    if (shared_field[i] != 0) atomicAdd(&row[i], shared_field[i]);
}

// cpu_backend.cpp total_cost for every env not yet settled this pass: the charged prices summed per
// agent with integer atomics (pass_cost is zeroed before the launch). Shared rows: N unsigned long longs.
__global__ void __launch_bounds__(kElementThreads) pass_cost_kernel(MarketView v, bool use_shared) {
  if (v.control[kOpenEnvs] == 0) return;  // a decision enqueued past the rule's end
  unsigned long long* cost = dynamic_shared<unsigned long long>();
  const SumBlock b = sum_block(v, use_shared);
  if (use_shared) {
    for (int i = threadIdx.x; i < v.params.N; i += blockDim.x) cost[i] = 0;
    __syncthreads();
  }
  int e = segment_of(v.impression_offset, v.params.E, b.first / v.params.S);
  for (std::int64_t q = b.first + threadIdx.x; q < b.last; q += blockDim.x) {
    const SlotOutcome& o = v.outcome[q];
    if (!is_charged(v, o)) continue;
    while (q >= v.impression_offset[e + 1] * v.params.S) ++e;
    if (v.env_done[e]) continue;
    add_agent(v, b, cost, reinterpret_cast<unsigned long long*>(v.pass_cost), e, o.agent,
              static_cast<unsigned long long>(o.price));
  }
  if (use_shared) {
    __syncthreads();
    flush_agents(v, b, cost, reinterpret_cast<unsigned long long*>(v.pass_cost));
  }
}

// Who overspends in the envs still open: pass cost above the remaining budget (exact). Each
// overspender gets a dense id (in any order: ids only name drop-selection buckets).
__global__ void overspenders_kernel(MarketView v) {
  if (v.control[kOpenEnvs] == 0) return;
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.params.E) * v.params.N) return;
  const int e = static_cast<int>(a / v.params.N);
  const bool over = !v.env_done[e] && v.pass_cost[a] > v.remaining_money[a];
  v.over[a] = over;
  if (over) v.over_id[a] = atomicAdd(&v.control[kOverspenders], 1);
}

// An env's rule ends this step after `passes` passes.
__device__ __forceinline__ void end_rule(const MarketView& v, int e) {
  v.env_done[e] = 1;
  v.env_mode[e] = kEnvIdle;
  v.passes[static_cast<std::size_t>(e) * v.params.T + v.t] = v.env_passes[e];
  atomicSub(&v.control[kOpenEnvs], 1);
}

// The decision at the top of each pass of cpu_backend.cpp auctionnet_overspend (or the truncate
// rule): one block per env ORs its agents' overspend flags.
__global__ void env_decide_kernel(MarketView v, bool auctionnet_rule) {
  const int e = blockIdx.x;
  if (v.env_done[e]) return;  // uniform per block
  int mine = 0;
  for (int i = threadIdx.x; i < v.params.N; i += blockDim.x) mine |= v.over[static_cast<std::size_t>(e) * v.params.N + i];
  const int any_over = __syncthreads_or(mine);
  if (threadIdx.x != 0) return;
  if (!any_over) {
    end_rule(v, e);
  } else if (!auctionnet_rule || v.env_passes[e] > v.params.max_passes) {
    v.env_mode[e] = kEnvTruncate;
  } else {
    v.env_mode[e] = kEnvDrop;
    v.control[kPending] = 1;
  }
}

// cpu_backend.cpp truncate_overspend for overspending agent i of env e: walk its charged wins in
// impression order and void each one that would take it past its remaining budget. A greedy whose
// every step depends on the running sum, so it stays one thread per overspending agent (over its
// env's outcomes); it runs only in the rare pass that ends the rule (truncate, or max_passes reached).
__device__ __forceinline__ void truncate_agent(const MarketView& v, int e, int i) {
  const Money remaining = v.remaining_money[static_cast<std::size_t>(e) * v.params.N + i];
  Money running = 0;
  const std::int64_t end = v.impression_offset[e + 1] * v.params.S;
  for (std::int64_t q = v.impression_offset[e] * v.params.S; q < end; ++q) {
    SlotOutcome& o = v.outcome[q];
    if (o.agent != i || !is_charged(v, o)) continue;
    if (running + o.price > remaining) o.agent = -1;
    else running += o.price;
  }
}

__global__ void truncate_kernel(MarketView v) {
  if (v.control[kOpenEnvs] == 0) return;
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.params.E) * v.params.N) return;
  const int e = static_cast<int>(a / v.params.N), i = static_cast<int>(a % v.params.N);
  if (v.env_done[e] || v.env_mode[e] != kEnvTruncate || !v.over[a]) return;
  truncate_agent(v, e, i);
}

// Marks the truncating envs settled (after truncate_kernel) with the pass count the CPU returns.
__global__ void finish_truncate_kernel(MarketView v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= v.params.E || v.env_done[e] || v.env_mode[e] != kEnvTruncate) return;
  end_rule(v, e);
}

// ----- the overspend rule's pass control and drop selection (issue 15 item 2) ----------------------
//
// A step of the AuctionNet rule reads nothing back to the host. The host enqueues kGridPasses
// passes on the whole grid (a decision, then a drop round), then one launch of overspend_tail_kernel
// in which one block per env still open runs that env's remaining passes to the rule's end with
// block barriers only: envs are independent, so no grid-wide barrier is needed past this point.
// Grid work that an env no longer needs does nothing: every pass kernel returns at once when no env
// is open (kOpenEnvs), every drop kernel when no env drops this pass (kPending), and the tail's
// blocks of ended envs return at once.
// Drop selection is a select, not a sort: the wins of the dropping overspenders are counted per
// (overspender, slot) bucket, the buckets laid out by a scan, the wins scattered into them (in any
// order), and one block per bucket finds the drop-th smallest (drop key, impression) by an 8-bit
// radix select in shared memory. Every step of this is order-independent, so the selected set is the
// CPU's nth_element set exactly.

__device__ __forceinline__ bool nothing_to_drop(const MarketView& v) { return v.control[kPending] == 0; }

// The drop selection's sort key of `agent`'s win at impression j of env e: (drop key << 32) | j, the
// CPU's (key, impression) order (cpu_backend.cpp auctionnet_overspend).
__device__ __forceinline__ std::uint64_t drop_composite(const MarketView& v, int e, int j, int agent) {
  const std::uint32_t key = draw(v.params.seed, Purpose::drop, v.genv[e], noise_step(v.t, v.params.frozen_noise),
                                 static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(agent),
                                 static_cast<std::uint32_t>(v.params.frozen_noise ? 0 : v.env_passes[e]))[0];
  return (static_cast<std::uint64_t>(key) << 32) | static_cast<std::uint32_t>(j);
}

// The bucket (overspender id x S + slot) of outcome q of env e when it is an overspender's win, else -1.
__device__ __forceinline__ std::int64_t overspender_bucket(const MarketView& v, int e, std::int64_t q) {
  const SlotOutcome& o = v.outcome[q];
  if (o.agent < 0) return -1;
  const std::size_t a = static_cast<std::size_t>(e) * v.params.N + o.agent;
  if (!v.over[a]) return -1;
  return static_cast<std::int64_t>(v.over_id[a]) * v.params.S + q % v.params.S;
}

// The grid-wide bucket of outcome q: -1 unless q is a win of an overspender in a dropping env.
// *composite gets the win's drop_composite.
__device__ __forceinline__ std::int64_t drop_bucket(const MarketView& v, std::int64_t q, std::uint64_t* composite) {
  const std::int64_t jf = q / v.params.S;
  const int e = segment_of(v.impression_offset, v.params.E, jf);
  if (v.env_mode[e] != kEnvDrop) return -1;
  const std::int64_t b = overspender_bucket(v, e, q);
  if (b >= 0 && composite)
    *composite = drop_composite(v, e, static_cast<int>(jf - v.impression_offset[e]), v.outcome[q].agent);
  return b;
}

// offset[0, n] = exclusive scan of count[0, n) by the whole block (partial: blockDim.x shared words,
// carry: one shared word); ends with a barrier, so every thread may read offset afterwards.
__device__ void block_exclusive_scan(const std::int32_t* count, std::int32_t* offset, int n, std::int32_t* partial,
                                     std::int32_t* carry) {
  const int threads = static_cast<int>(blockDim.x);
  if (threadIdx.x == 0) *carry = 0;
  for (int base = 0; base < n; base += threads) {
    const int b = base + static_cast<int>(threadIdx.x);
    const std::int32_t x = b < n ? count[b] : 0;
    partial[threadIdx.x] = x;
    __syncthreads();
    for (int step = 1; step < threads; step <<= 1) {  // Hillis-Steele inclusive scan
      const std::int32_t add = threadIdx.x >= static_cast<unsigned>(step) ? partial[threadIdx.x - step] : 0;
      __syncthreads();
      partial[threadIdx.x] += add;
      __syncthreads();
    }
    if (b < n) offset[b] = *carry + partial[threadIdx.x] - x;
    __syncthreads();
    if (static_cast<int>(threadIdx.x) == threads - 1) *carry += partial[threads - 1];
    __syncthreads();
  }
  if (threadIdx.x == 0) offset[n] = *carry;
  __syncthreads();
}

// The radix select's shared words (one block works on one bucket at a time).
struct SelectScratch {
  std::int32_t histogram[256];
  std::uint64_t prefix;
  std::int32_t rank;
};

// One bucket (an overspender of env e and a slot), its wins at drop_key/drop_index[begin, end), by
// the whole block: drop = min(wins, ceil(ratio x wins)) of them, those with the smallest composite
// keys (all when drop == wins), found by an 8-bit radix select of the drop-th smallest key. Each
// dropped win leaves its impression's ranked winners (the drop floor keeps it dropped,
// engine/core/drop_floor.hpp) and marks the impression for re-auction. Uniform
// over the block; ends with a barrier (the shared words are reused by the next bucket).
__device__ void select_bucket_drops(const MarketView& v, int e, std::int64_t begin, std::int64_t end,
                                    SelectScratch& scratch) {
  const std::int32_t wins = static_cast<std::int32_t>(end - begin);
  if (wins == 0) return;
  const std::size_t a = static_cast<std::size_t>(e) * v.params.N + v.outcome[v.drop_index[begin]].agent;
  const double ratio = overspend_drop_ratio(v.pass_cost[a], v.remaining_money[a]);
  const std::int32_t ceiled = static_cast<std::int32_t>(ceil(ratio * wins));
  const std::int32_t drop = wins < ceiled ? wins : ceiled;
  if (drop <= 0) return;
  std::uint64_t threshold = ~std::uint64_t{0};
  if (drop < wins) {
    std::uint64_t prefix = 0;
    std::int32_t rank = drop;  // 1-based rank of the wanted key among those matching `prefix`
    for (int shift = 56; shift >= 0; shift -= 8) {
      for (int d = threadIdx.x; d < 256; d += blockDim.x) scratch.histogram[d] = 0;
      __syncthreads();
      const std::uint64_t high = shift == 56 ? 0 : ~std::uint64_t{0} << (shift + 8);
      for (std::int64_t p = begin + threadIdx.x; p < end; p += blockDim.x) {
        const std::uint64_t key = v.drop_key[p];
        if ((key & high) == prefix) atomicAdd(&scratch.histogram[(key >> shift) & 255], 1);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        int d = 0;
        while (scratch.histogram[d] < rank) rank -= scratch.histogram[d++];
        scratch.prefix = prefix | (static_cast<std::uint64_t>(d) << shift);
        scratch.rank = rank;
      }
      __syncthreads();
      prefix = scratch.prefix;
      rank = scratch.rank;
    }
    threshold = prefix;  // keys are unique (one impression per key), so exactly `drop` are <= it
  }
  for (std::int64_t p = begin + threadIdx.x; p < end; p += blockDim.x) {
    if (v.drop_key[p] > threshold) continue;
    const std::uint32_t q = v.drop_index[p];
    v.outcome[q].candidate = kNoWinner;  // leaves the ranked winners; the floor keeps it dropped
    v.dirty[q / v.params.S] = 1;
  }
  __syncthreads();
}

// ----- a drop round on the whole grid ---------------------------------------------------------------

// Wins per bucket (bucket_count is all zeros between drop rounds: scatter counts it back down).
__global__ void count_drop_wins_kernel(MarketView v) {
  if (nothing_to_drop(v)) return;
  const std::int64_t q = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= v.items) return;
  const std::int64_t b = drop_bucket(v, q, nullptr);
  if (b >= 0) atomicAdd(&v.bucket_count[b], 1);
}

// bucket_offset = exclusive scan of bucket_count over this pass's buckets (overspenders x S), one
// block: the bucket count is known only on the device, and it is small next to the outcomes.
__global__ void __launch_bounds__(kScanThreads) scan_drop_buckets_kernel(MarketView v) {
  if (nothing_to_drop(v)) return;
  BIDSIM_SHARED(std::int32_t[kScanThreads], partial);
  BIDSIM_SHARED(std::int32_t, carry);
  block_exclusive_scan(v.bucket_count, v.bucket_offset, v.control[kOverspenders] * v.params.S, partial, &carry);
}

// Each win into its bucket (any order inside a bucket) with its composite key; counts back to 0.
__global__ void scatter_drop_wins_kernel(MarketView v) {
  if (nothing_to_drop(v)) return;
  const std::int64_t q = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= v.items) return;
  std::uint64_t composite = 0;
  const std::int64_t b = drop_bucket(v, q, &composite);
  if (b < 0) return;
  const std::int32_t position = v.bucket_offset[b] + atomicSub(&v.bucket_count[b], 1) - 1;
  v.drop_key[position] = composite;
  v.drop_index[position] = static_cast<std::uint32_t>(q);
}

// One block per bucket (grid-stride over the buckets): select_bucket_drops.
__global__ void __launch_bounds__(kElementThreads) select_drops_kernel(MarketView v) {
  if (nothing_to_drop(v)) return;
  BIDSIM_SHARED(SelectScratch, scratch);
  const int buckets = v.control[kOverspenders] * v.params.S;
  for (int b = blockIdx.x; b < buckets; b += gridDim.x) {
    const std::int32_t begin = v.bucket_offset[b], end = v.bucket_offset[b + 1];
    if (begin == end) continue;  // uniform over the block
    const int e = segment_of(v.impression_offset, v.params.E, static_cast<std::int64_t>(v.drop_index[begin] / v.params.S));
    select_bucket_drops(v, e, begin, end, scratch);
  }
}

// ----- the rest of the rule, one block per env ------------------------------------------------------

// cpu_backend.cpp auctionnet_overspend's loop for each env still open after the grid passes, from
// its current pass to the rule's end: one block (kAuctionThreads threads) per env, the phases of a
// pass separated by block barriers. The env's pass costs are summed in shared memory when
// shared_pass_cost (N <= kMaxSharedSumAgents; the dynamic shared memory then holds N unsigned long
// longs after the lane groups' sparse candidate rows). Its buckets use its own rows of bucket_count
// ([E][N x S]) and bucket_offset ([E][N x S + 1]), its wins its own range of drop_key / drop_index
// (its outcomes' range: an env has no more wins than outcomes), and overspender ids are numbered
// per env, so the blocks share nothing.
template <int Capacity>
__global__ void __launch_bounds__(kAuctionThreads)
    overspend_tail_kernel(MarketView v, bool shared_pass_cost, int group_lanes) {
  const int e = blockIdx.x;
  if (v.env_done[e]) return;  // uniform per block
  BIDSIM_SHARED(std::int32_t[kAuctionThreads], scan_partial);
  BIDSIM_SHARED(std::int32_t, scan_carry);
  BIDSIM_SHARED(std::int32_t, overspenders);
  BIDSIM_SHARED(SelectScratch, scratch);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const LaneGroup group = lane_group(group_lanes);
  const int group_in_warp = lane / group_lanes, groups_per_warp = kWarp / group_lanes;
  std::int32_t* const dynamic = dynamic_shared<std::int32_t>();
  std::int32_t* const sparse_row = dynamic + group.index * v.params.K;
  // 8-byte aligned: at least 8 groups per block, so groups x K int32 is a multiple of 8 bytes.
  unsigned long long* const cost =
      reinterpret_cast<unsigned long long*>(dynamic + auction_groups_per_block(group_lanes) * v.params.K);
  const std::size_t row = static_cast<std::size_t>(e) * v.params.N;
  const std::int64_t first_impression = v.impression_offset[e];
  const int M = static_cast<int>(v.impression_offset[e + 1] - first_impression);
  const std::int64_t q_begin = first_impression * v.params.S, q_end = (first_impression + M) * v.params.S;
  std::int32_t* const bucket_count = v.bucket_count + row * v.params.S;
  std::int32_t* const bucket_offset = v.bucket_offset + static_cast<std::size_t>(e) * (static_cast<std::size_t>(v.params.N) * v.params.S + 1);
  for (;;) {
    // cpu_backend.cpp total_cost: exact pass costs.
    for (int i = threadIdx.x; i < v.params.N; i += blockDim.x) {
      if (shared_pass_cost) cost[i] = 0;
      else v.pass_cost[row + i] = 0;
    }
    if (threadIdx.x == 0) overspenders = 0;
    __syncthreads();
    for (std::int64_t q = q_begin + threadIdx.x; q < q_end; q += blockDim.x) {
      const SlotOutcome& o = v.outcome[q];
      if (!is_charged(v, o)) continue;
      if (shared_pass_cost) atomicAdd(&cost[o.agent], static_cast<unsigned long long>(o.price));
      else add_money(&v.pass_cost[row + o.agent], o.price);
    }
    __syncthreads();
    // Who overspends (ids name this env's buckets only), and the decision.
    int mine = 0;
    for (int i = threadIdx.x; i < v.params.N; i += blockDim.x) {
      const Money pass_cost = shared_pass_cost ? static_cast<Money>(cost[i]) : v.pass_cost[row + i];
      if (shared_pass_cost) v.pass_cost[row + i] = pass_cost;  // select_bucket_drops reads it
      const bool over = pass_cost > v.remaining_money[row + i];
      v.over[row + i] = over;
      if (over) {
        v.over_id[row + i] = atomicAdd(&overspenders, 1);
        mine = 1;
      }
    }
    const int any_over = __syncthreads_or(mine);
    if (!any_over) {
      if (threadIdx.x == 0) end_rule(v, e);
      return;
    }
    if (v.env_passes[e] > v.params.max_passes) {
      for (int i = threadIdx.x; i < v.params.N; i += blockDim.x)
        if (v.over[row + i]) truncate_agent(v, e, i);
      if (threadIdx.x == 0) end_rule(v, e);
      return;
    }
    // A drop round: count, scan, scatter, select, as the grid's kernels over this env only.
    for (std::int64_t q = q_begin + threadIdx.x; q < q_end; q += blockDim.x) {
      const std::int64_t b = overspender_bucket(v, e, q);
      if (b >= 0) atomicAdd(&bucket_count[b], 1);
    }
    __syncthreads();
    const int buckets = overspenders * v.params.S;
    block_exclusive_scan(bucket_count, bucket_offset, buckets, scan_partial, &scan_carry);
    for (std::int64_t q = q_begin + threadIdx.x; q < q_end; q += blockDim.x) {
      const std::int64_t b = overspender_bucket(v, e, q);
      if (b < 0) continue;
      const std::int64_t position = q_begin + bucket_offset[b] + atomicSub(&bucket_count[b], 1) - 1;
      v.drop_key[position] = drop_composite(v, e, static_cast<int>(q / v.params.S - first_impression), v.outcome[q].agent);
      v.drop_index[position] = static_cast<std::uint32_t>(q);
    }
    __syncthreads();
    for (int b = 0; b < buckets; ++b)
      select_bucket_drops(v, e, q_begin + bucket_offset[b], q_begin + bucket_offset[b + 1], scratch);
    __syncthreads();
    // The re-auction of the impressions that lost a winner, a lane group per impression: each warp
    // reads the dirty flags of 32 impressions at once (one per lane), and its groups take the marked
    // ones in turn (group p of the warp the p-th, (p + groups per warp)-th, ... marked one).
    for (int base = warp * kWarp; base < M; base += kAuctionWarpsPerBlock * kWarp) {
      const unsigned marked = __ballot_sync(kFullMask, base + lane < M && v.dirty[first_impression + base + lane]);
      for (unsigned ours = drop_low_bits(marked, group_in_warp); ours != 0; ours = drop_low_bits(ours, groups_per_warp)) {
        const int j = base + __ffs(static_cast<int>(ours)) - 1;
        const std::int64_t jf = first_impression + j;
        auction_group<Capacity>(v, e, j, jf, false, group, nullptr, sparse_row);
        __syncwarp(group.mask);
        if (group.leader()) v.dirty[jf] = 0;
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) ++v.env_passes[e];
    __syncthreads();
  }
}

// After the re-auction: the dropping envs go on to their next pass (the CPU's ++passes).
__global__ void advance_passes_kernel(MarketView v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= v.params.E || v.env_mode[e] != kEnvDrop) return;  // (no env drops past the rule's end)
  v.env_mode[e] = kEnvIdle;
  ++v.env_passes[e];
}

__global__ void start_passes_kernel(MarketView v) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= v.params.E) return;
  v.env_mode[e] = kEnvIdle;
  v.env_passes[e] = 1;
  v.env_done[e] = 0;
  if (e == 0) v.control[kOpenEnvs] = v.params.E;
}

// ----- settle (cpu_backend.cpp settle) ---------------------------------------------------------------

// Per outcome of the final allocation: its conversion draw, then the owner's wins, exact cost,
// exposures, exact value and conversions by integer atomics (the step arrays are zeroed before the
// launch). Shared rows: 5 x N unsigned long longs.
__global__ void __launch_bounds__(kElementThreads) settle_outcomes_kernel(MarketView v, bool use_shared) {
  unsigned long long* const shared = dynamic_shared<unsigned long long>();
  unsigned long long *cost = shared, *value = shared + v.params.N, *wins = shared + 2 * v.params.N,
                     *exposures = shared + 3 * v.params.N, *conversions = shared + 4 * v.params.N;
  const SumBlock b = sum_block(v, use_shared);
  if (use_shared) {
    for (int i = threadIdx.x; i < 5 * v.params.N; i += blockDim.x) shared[i] = 0;
    __syncthreads();
  }
  auto global = [](auto* p) { return reinterpret_cast<unsigned long long*>(p); };
  const ConversionTerms an{v.an_sigma_mean, v.an_bound_lo, v.an_bound_hi, v.an_cdf_lo, v.an_cdf_hi};
  int e = segment_of(v.impression_offset, v.params.E, b.first / v.params.S);
  for (std::int64_t q = b.first + threadIdx.x; q < b.last; q += blockDim.x) {
    const SlotOutcome o = v.outcome[q];
    if (o.agent < 0) continue;
    while (q >= v.impression_offset[e + 1] * v.params.S) ++e;
    const int i = o.agent;
    if (e == b.shared_env) atomicAdd(&wins[i], 1ull);
    else atomicAdd(&v.step_wins[static_cast<std::size_t>(e) * v.params.N + i], 1);
    if (is_charged(v, o)) add_agent(v, b, cost, global(v.step_cost_money), e, i, static_cast<unsigned long long>(o.price));
    if (!o.exposed) continue;
    const int j = static_cast<int>(q / v.params.S - v.impression_offset[e]);
    const bool converted = exposed_win_converts(v.params, an, static_cast<std::size_t>(e) * v.params.N + i, v.genv[e],
                                                v.t, j, i, o.value);
    if (v.record_conversions) v.outcome[q].converted = converted;
    add_agent(v, b, value, global(v.step_value_money), e, i, static_cast<unsigned long long>(to_money(o.value)));
    if (e == b.shared_env) {
      atomicAdd(&exposures[i], 1ull);
      if (converted) atomicAdd(&conversions[i], 1ull);
    } else {
      atomicAdd(&v.step_exposures[static_cast<std::size_t>(e) * v.params.N + i], 1);
      if (converted) atomicAdd(&v.step_conversion_count[static_cast<std::size_t>(e) * v.params.N + i], 1);
    }
  }
  if (!use_shared) return;
  __syncthreads();
  flush_agents(v, b, cost, global(v.step_cost_money));
  flush_agents(v, b, value, global(v.step_value_money));
  if (b.shared_env < 0) return;
  const std::size_t row = static_cast<std::size_t>(b.shared_env) * v.params.N;
  for (int k = threadIdx.x; k < v.params.N; k += blockDim.x) {
    // Counts of one block fit int32 (at most kOutcomesPerSumBlock).
    if (wins[k]) atomicAdd(&v.step_wins[row + k], static_cast<std::int32_t>(wins[k]));
    if (exposures[k]) atomicAdd(&v.step_exposures[row + k], static_cast<std::int32_t>(exposures[k]));
    if (conversions[k]) atomicAdd(&v.step_conversion_count[row + k], static_cast<std::int32_t>(conversions[k]));
  }
}

// Per agent, after settle_outcomes_kernel: the exact episode accounts, the env's revenue (integer
// atomics), then every output in money units converted from them, as cpu_backend.cpp settle.
__global__ void settle_agents_kernel(MarketView v) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.params.E) * v.params.N) return;
  const int e = static_cast<int>(a / v.params.N);
  const Money cost = v.step_cost_money[a], value = v.step_value_money[a];
  const std::int32_t conversions = v.step_conversion_count[a];
  const Money remaining = pay(v.remaining_money[a], cost);
  const Money cost_total = v.cost_money[a] + cost, value_total = v.value_money[a] + value;
  const double conversions_total = v.conversions[a] + conversions;
  v.remaining_money[a] = remaining;
  v.cost_money[a] = cost_total;
  v.value_money[a] = value_total;
  if (cost != 0) add_money(&v.revenue_money[e], cost);
  v.conversions[a] = conversions_total;
  v.wins[a] += v.step_wins[a];
  v.exposures[a] += v.step_exposures[a];
  v.bid_count[a] += v.step_bid_count[a];
  v.step_cost[a] = to_units(cost);
  v.step_value[a] = to_units(value);
  v.step_conversions[a] = conversions;
  v.step_reward[a] = reward_of(v.params.reward, value, cost, conversions);
  v.remaining_budget[a] = remaining_to_units(remaining);
  v.cost[a] = to_units(cost_total);
  v.value[a] = to_units(value_total);
  v.reward[a] = reward_of(v.params.reward, value_total, cost_total, conversions_total);
}

// observation.cpp write_observations, per agent, through the shared observe_agent().
__global__ void observations_kernel(MarketView v, int step) {
  const std::int64_t a = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (a >= static_cast<std::int64_t>(v.params.E) * v.params.N) return;
  const int i = static_cast<int>(a % v.params.N);
  const AgentObservationStatics statics{v.obs_category[i], v.obs_value_scale[i], v.obs_budget_level[i],
                                        v.obs_cpa_level[i], v.obs_budget_denominator[i], v.obs_bounded[i] != 0};
  const AgentObservationState state{v.remaining_budget[a], v.step_cost[a], v.step_value[a], v.cost[a],
                                    v.step_wins[a], v.step_bid_count[a], v.wins[a], v.bid_count[a]};
  observe_agent(statics, state, step, v.params.T, v.observation + a * kObservationWidth);
}

}  // namespace bidsim::cuda
