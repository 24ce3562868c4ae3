// CPU reference backend. One step of one environment: draw candidates and values per impression,
// rank and price (physics.hpp), apply the overspend rule, then settle exposure, value and conversions.
#include "engine/cpu/cpu_backend.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/core/drop_floor.hpp"
#include "engine/core/episode_setup.hpp"
#include "engine/core/market_params.hpp"
#include "engine/core/observation.hpp"
#include "engine/core/physics.hpp"
#include "engine/core/rng.hpp"
#include "engine/core/slot_outcome.hpp"
#include "engine/cpu/value_rows.hpp"

namespace bidsim {
namespace {

// Values of one step are cached for re-auction passes when they fit in this much per thread.
constexpr double kValueCacheBytes = 512.0 * (1 << 20);
// With fewer environments than threads, one environment's first auction pass is split over the
// threads when it has at least this many impressions (below it the fork costs more than it saves).
constexpr int kMinImpressionsToSplit = 2048;

// Rank keys of candidates below the drop floor that an impression keeps for its later re-auctions in a
// step (rank_again): Capacity plus kSpareKeys from its first scan of the row, so a few drops are answered
// from the list without scanning again; Capacity plus kSpareKeysAgain from each later scan, since an
// impression whose list ran dry is one whose winners keep being dropped (a market that exhausts its
// budgets runs tens of passes a step). One length for every list was worse: a longer first list slows
// the common case, since every key offered to it costs more (AuctionNet in bench_market: 15.1 ns per
// agent x impression with 2 spare keys, 16.4 with 6), a short one the exhausting case (a dense market
// of 54 passes a step, 1000 agents x 10^4 impressions: 8.7 s with 2, 5.3 s with 6, 5.6 s with 10 or 16).
constexpr int kSpareKeys = 2;
constexpr int kSpareKeysAgain = 6;

// Per-thread working memory, sized at reset so a step never allocates.
struct Scratch {
  std::vector<std::int32_t> identity;    // [N] 0..N-1: the candidate list of a dense market
  std::vector<std::int32_t> cand_agent;  // [C] candidates of one impression (no cache)
  std::vector<float> cand_value;         // [C]
  std::vector<std::uint32_t> row_words;  // [4 ceil(N/4)] a dense row's value words (value_rows.hpp)
  std::vector<float> row_normal;         // [N] their standard normals, then (lognormal) the noise
  std::vector<std::int32_t> agent_cache; // [M][C] sparse candidates drawn this step (cache on)
  std::vector<float> value_cache;        // [M][C] their values, reused by re-auction passes
  std::vector<SlotOutcome> outcome;      // [M][S]
  std::vector<std::int32_t> drop_floor;  // [M] the lowest-ranked candidate that was a ranked winner this step
  std::vector<std::uint64_t> kept_keys;  // [M][S + 1 + kSpareKeysAgain] an impression's best rank keys below its floor
  std::vector<std::int8_t> kept_count;   // [M] how many kept_keys hold, -1 until its first re-auction
  std::vector<std::int8_t> kept_limit;   // [M] the size the list was made with (it held every candidate below
                                         //  the floor when kept_count is below it)
  std::vector<std::int32_t> dirty;       // impressions to re-auction in this pass
  std::vector<std::uint8_t> is_dirty;    // [M]
  std::vector<Money> pass_cost;          // [N] step cost under the current outcome
  std::vector<std::uint8_t> active;      // [N]
  int active_count = 0;                  // agents with active[i] set this step
  std::vector<float> multiplier;         // [N]
  std::vector<std::int32_t> over_agents;                        // [N] overspending agents of a pass
  std::vector<std::int32_t> over_slot;                          // [N] their position there, else -1
  std::vector<std::int32_t> bucket_offset;                      // [N*S+1]
  std::vector<std::pair<std::uint32_t, std::int32_t>> bucket;   // [M*S] (drop key, impression)
  std::vector<Money> running_cost;       // [N] truncate rule
  std::vector<std::int32_t> thread_bid_count;  // [N] this thread's share of a split first pass
  std::vector<std::int32_t> step_conversions;  // [N] settle's conversion counts
  const float* bids = nullptr;           // [M][N] this env's per-impression bids in a step_bids step, else null
  std::vector<double> least_cost;        // [M] least winning cost per impression (step_bids steps)
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Scenario& scenario, int threads)
      : s_(scenario),
        threads_(threads > 0 ? threads : omp_get_max_threads()),
        members_(category_members(scenario.agents)),
        p_(market_params(scenario)) {
    st_.allocate(p_.E, p_.N, p_.T);
    if (p_.model == ValueModel::auctionnet) an_.allocate(p_.E, p_.N, p_.T);
    value_scale_.assign(s_.agents.value_scale.begin(), s_.agents.value_scale.end());
    scratch_.resize(threads_);
    obs_ctx_ = ObservationContext::from(s_);
    reset(0);
  }

  const char* name() const override { return "cpu"; }
  const MarketState& state() override { return st_; }
  const std::vector<std::int32_t>& impressions_per_step() const override { return st_.impressions; }
  const AuctionNetEpisode& auctionnet_parameters() const override { return an_; }
  std::uint64_t episode() const override { return st_.episode; }
  int step_index() const override { return st_.step; }

  void reset(std::uint64_t episode) override {
    const int E = st_.envs, N = st_.agents, T = st_.steps;
    st_.episode = episode;
    st_.step = 0;
    std::int64_t max_m = 0;
    for (int e = 0; e < E; ++e) {
      const std::uint32_t genv = global_env(episode, s_.market, e);
      episode_impressions(s_, genv, &st_.impressions[static_cast<std::size_t>(e) * T]);
      if (p_.model == ValueModel::auctionnet) auctionnet_episode(s_, genv, e, an_);
      for (int t = 0; t < T; ++t)
        max_m = std::max<std::int64_t>(max_m, st_.impressions[static_cast<std::size_t>(e) * T + t]);
    }
    for (int e = 0; e < E; ++e)
      for (int i = 0; i < N; ++i) {
        const Money budget = budget_to_money(s_.agents.budget[i]);
        st_.remaining_money[st_.index(e, i)] = budget;
        st_.remaining_budget[st_.index(e, i)] = remaining_to_units(budget);
      }
    st_.zero_for_reset();
    size_scratch(max_m);
    for (int e = 0; e < E; ++e) write_observations(obs_ctx_, st_, e, 0);
  }

  // Environments are independent: with at least as many as threads, each thread steps whole
  // environments. With fewer (one large market), environments run one after the other and each
  // splits its first auction pass over the threads (split_first_pass); the rest of the step (the
  // overspend rule, settling in impression order) stays sequential, so results do not depend on
  // the thread count.
  void step(const float* multipliers) override { step_all(multipliers, nullptr, nullptr); }

  // The same step with per-impression bids [rows][N] (impression_bids.hpp) instead of multipliers.
  void step_bids(const float* bids, ImpressionOutcomes* outcomes) override { step_all(nullptr, bids, outcomes); }

 private:
  // Grows every thread's scratch to the largest step of this batch of episodes (never shrinks).
  void size_scratch(std::int64_t max_m) {
    const int N = st_.agents, S = p_.S;
    const std::size_t M = static_cast<std::size_t>(std::max<std::int64_t>(max_m, 1));
    cache_values_ = p_.model != ValueModel::file &&
                    static_cast<double>(M) * p_.C * sizeof(float) <= kValueCacheBytes;
    const bool sparse = p_.mode == CandidateMode::sparse;
    auto grow = [](auto& v, std::size_t n) { if (v.size() < n) v.resize(n); };
    for (Scratch& w : scratch_) {
      if (w.identity.empty()) {
        w.identity.resize(N);
        for (int i = 0; i < N; ++i) w.identity[i] = i;
      }
      grow(w.cand_agent, p_.C);
      grow(w.cand_value, p_.C);
      if (p_.mode == CandidateMode::dense) {
        grow(w.row_words, 4 * static_cast<std::size_t>((N + 3) / 4));
        grow(w.row_normal, N);
      }
      if (cache_values_) grow(w.value_cache, M * p_.C);
      if (cache_values_ && sparse) grow(w.agent_cache, M * p_.C);
      grow(w.outcome, M * S);
      grow(w.drop_floor, M);
      grow(w.kept_keys, M * (S + 1 + kSpareKeysAgain));
      grow(w.kept_limit, M);
      if (w.kept_count.size() < M) w.kept_count.assign(M, -1);
      grow(w.dirty, M);
      if (w.is_dirty.size() < M) w.is_dirty.assign(M, 0);
      grow(w.pass_cost, N);
      grow(w.active, N);
      grow(w.multiplier, N);
      grow(w.bucket_offset, static_cast<std::size_t>(N) * S + 1);
      grow(w.over_agents, N);
      if (w.over_slot.size() < static_cast<std::size_t>(N)) w.over_slot.assign(N, -1);
      grow(w.bucket, M * S);
      grow(w.running_cost, N);
      grow(w.step_conversions, N);
      grow(w.least_cost, M);
      if (splits_environments()) grow(w.thread_bid_count, N);
    }
  }

  bool splits_environments() const { return threads_ > 1 && st_.envs < threads_; }

  // Exactly one of `multipliers` ([E][N]) and `bids` ([rows][N], rows as step_row_offsets) is given.
  void step_all(const float* multipliers, const float* bids, ImpressionOutcomes* outcomes) {
    if (st_.step >= st_.steps) return;  // the episode is over; the facade reports this as an error
    const int E = st_.envs, N = st_.agents;
    std::vector<std::int64_t> rows;
    if (bids) rows = step_row_offsets(st_.impressions, E, st_.steps, st_.step);
    auto env_bids = [&](int e) { return bids ? bids + static_cast<std::size_t>(rows[e]) * N : nullptr; };
    if (splits_environments()) {
      for (int e = 0; e < E; ++e) step_env(e, multipliers, env_bids(e), outcomes, scratch_[0], true);
    } else {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 1)
      for (int e = 0; e < E; ++e)
        step_env(e, multipliers, env_bids(e), outcomes, scratch_[omp_get_thread_num()], false);
    }
    ++st_.step;
  }

  // ----- candidates and values of one impression --------------------------------------------

  // Where an impression's candidates and their values are: the file's rows, the per-step cache, or
  // the scratch row when the cache would be too large.
  struct CandidateRow {
    const std::int32_t* agent;
    const float* value;
    int count;
  };

  // Sparse candidates: K distinct agents by Floyd's algorithm over the pool (all agents, or the
  // impression category's agents), one counter-based word per pick.
  void sample_sparse(std::uint32_t genv, int t, int j, int category, std::int32_t* out) const {
    const int K = p_.K;
    const std::int32_t* pool = members_.members.data();
    int pool_size = st_.agents;
    if (p_.within_category) {
      pool += members_.offset[category];
      pool_size = members_.offset[category + 1] - members_.offset[category];
    }
    Draw d{};
    int chosen = 0;
    for (int m = pool_size - K; m < pool_size; ++m, ++chosen) {
      if ((chosen & 3) == 0)
        d = draw(p_.seed, Purpose::candidate, genv, t, j, static_cast<std::uint32_t>(chosen >> 2));
      std::int32_t pick = static_cast<std::int32_t>(uniform_below(d[chosen & 3], m + 1));
      for (int q = 0; q < chosen; ++q)
        if (out[q] == pool[pick]) { pick = m; break; }
      out[chosen] = pool[pick];
    }
  }


  // Value of `agent` for impression j from its value word.
  float value_of(int e, int t, int agent, int category, std::uint32_t word) const {
    return drawn_value(p_, an_.mean.data(), an_.std_dev.data(), value_scale_.data(), s_.agents.category.data(), e, t,
                       category, agent, word);
  }

  // Procedural values of all N agents for impression j: one Philox call per four agents, the
  // distribution fixed once per impression (the per-pair switch cost ~10% of a dense step).
  void dense_procedural_values(std::uint32_t genv, int t, int j, int category, const std::uint8_t* active,
                               float* value, Scratch& rows) const {
    switch (p_.distribution) {
      case ProceduralDistribution::uniform:
        return dense_procedural_values_of<ProceduralDistribution::uniform>(genv, t, j, category, active, value);
      case ProceduralDistribution::exponential:
        return dense_procedural_values_of<ProceduralDistribution::exponential>(genv, t, j, category, active, value);
      case ProceduralDistribution::lognormal:
        return dense_lognormal_values(genv, t, j, category, active, value, rows);
    }
  }

  // Standard normals of impression j's value words for all N agents, a row at a time (value_rows.hpp):
  // the numbers standard_normal(value_word(...)) gives, into rows.row_normal.
  float* dense_value_normals(std::uint32_t genv, int t, int j, Scratch& rows) const {
    const int N = st_.agents;
    philox_row(p_.seed, Purpose::value, genv, static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(j),
               (N + 3) / 4, rows.row_words.data());
    standard_normal_row(rows.row_words.data(), N, rows.row_normal.data());
    return rows.row_normal.data();
  }

  // Lognormal procedural values of all N agents, a row at a time: the values procedural_value_of
  // gives, with the normals and the exponentials vectorized (about 3x the per-pair loop).
  void dense_lognormal_values(std::uint32_t genv, int t, int j, int category, const std::uint8_t* active,
                              float* value, Scratch& rows) const {
    const int N = st_.agents;
    const float* scale = value_scale_.data();
    const auto* agent_category = s_.agents.category.data();
    const float sigma = p_.sigma, cross_category = p_.cross_category;
    float* noise = dense_value_normals(genv, t, j, rows);
    for (int i = 0; i < N; ++i) noise[i] = lognormal_exponent(sigma, noise[i]);
    expf_row(noise, N, noise);
    for (int i = 0; i < N; ++i)
      value[i] = active[i] ? procedural_value_of_noise(scale[i], agent_category[i], category, cross_category, noise[i])
                           : 0.0f;
  }

  template <ProceduralDistribution Dist>
  void dense_procedural_values_of(std::uint32_t genv, int t, int j, int category, const std::uint8_t* active,
                                  float* value) const {
    // Locals, not members: value[] is float and active[] is bytes, so stores through them could alias
    // p_.sigma and p_.cross_category and force a reload per pair.
    const int N = st_.agents;
    const float* scale = value_scale_.data();
    const auto* agent_category = s_.agents.category.data();
    const float sigma = p_.sigma, cross_category = p_.cross_category;
    const std::uint64_t seed = p_.seed;
    for (int g = 0; g < N; g += 4) {
      const Draw d = draw(seed, Purpose::value, genv, t, j, static_cast<std::uint32_t>(g >> 2));
      const int last = std::min(4, N - g);
      for (int q = 0; q < last; ++q)
        value[g + q] = active[g + q] ? procedural_value_of<Dist>(scale[g + q], agent_category[g + q], category, sigma,
                                                                 cross_category, d[q])
                                     : 0.0f;
    }
  }

  // Draws impression j's candidates and values (inactive agents get 0) into row storage: the step's
  // cache in `w` (indexed by impression), or the single-row buffers of `rows` (the calling thread's).
  CandidateRow fill_candidates(int e, std::uint32_t genv, int t, int j, Scratch& w, Scratch& rows) const {
    if (p_.model == ValueModel::file) {
      const FileValues& f = s_.values.file;
      const std::int64_t slot = f.step_offset[t] + j;
      const std::int64_t begin = f.row_offset[slot], end = f.row_offset[slot + 1];
      return {&f.agent[begin], &f.value[begin], static_cast<int>(end - begin)};
    }
    float* value = cache_values_ ? &w.value_cache[static_cast<std::size_t>(j) * p_.C] : rows.cand_value.data();
    const int category = p_.needs_category ? impression_category(p_.seed, genv, t, j, p_.categories) : 0;
    if (p_.mode == CandidateMode::dense) {
      const int N = st_.agents;
      const std::uint8_t* active = w.active.data();
      if (w.active_count == 0) {  // every budget is spent: nothing to draw
        std::fill(value, value + N, 0.0f);
      } else if (p_.model == ValueModel::auctionnet) {
        // The hot loop of the AuctionNet preset, a row at a time (value_rows.hpp). Inactive agents'
        // draws are made and discarded: cheaper in the vector loop than a branch per four agents.
        const std::size_t k = (static_cast<std::size_t>(e) * st_.steps + t) * N;
        const float* mean = &an_.mean[k];
        const float* std_dev = &an_.std_dev[k];
        const float* normal = dense_value_normals(genv, t, j, rows);
        for (int i = 0; i < N; ++i)
          value[i] = active[i] ? auctionnet_pvalue_of_normal(mean[i], std_dev[i], normal[i]) : 0.0f;
      } else {
        dense_procedural_values(genv, t, j, category, active, value, rows);
      }
      return {w.identity.data(), value, N};
    }
    const int K = p_.K;
    std::int32_t* agent = cache_values_ ? &w.agent_cache[static_cast<std::size_t>(j) * p_.C] : rows.cand_agent.data();
    sample_sparse(genv, t, j, category, agent);
    for (int k = 0; k < K; ++k)
      value[k] = w.active[agent[k]]
          ? value_of(e, t, agent[k], category, value_word(p_.seed, genv, t, j, static_cast<std::uint32_t>(agent[k])))
          : 0.0f;
    return {agent, value, K};
  }

  // The row of an impression already drawn this step (re-auctions): cached, or drawn again.
  CandidateRow cached_candidates(int e, std::uint32_t genv, int t, int j, Scratch& w) const {
    if (!cache_values_ || p_.model == ValueModel::file) return fill_candidates(e, genv, t, j, w, w);
    const std::size_t row = static_cast<std::size_t>(j) * p_.C;
    const bool dense = p_.mode == CandidateMode::dense;
    return {dense ? w.identity.data() : &w.agent_cache[row], &w.value_cache[row], p_.C};
  }

  // ----- one auction ---------------------------------------------------------------------------

  // Calls f(std::integral_constant<int, Capacity>) with Capacity = slots + 1, so the ranking networks
  // are unrolled for the scenario's slot count.
  template <class F>
  static decltype(auto) with_capacity(int capacity, F&& f) {
    switch (capacity) {
      case 2: return f(std::integral_constant<int, 2>{});
      case 3: return f(std::integral_constant<int, 3>{});
      case 4: return f(std::integral_constant<int, 4>{});
      case 5: return f(std::integral_constant<int, 5>{});
      case 6: return f(std::integral_constant<int, 6>{});
      case 7: return f(std::integral_constant<int, 7>{});
      case 8: return f(std::integral_constant<int, 8>{});
      default: return f(std::integral_constant<int, kMaxSlots + 1>{});
    }
  }

  // The bids of one candidate row and the test every ranking of it applies. Bids: the impression's
  // own bids of a step_bids step, else multiplier x value; a template argument so the multiplier
  // step's hot loop stays exactly as it was.
  template <bool Bids>
  struct RowBids {
    const CandidateRow& row;
    const float* bid_row;  // [N] the impression's bids (Bids only)
    const float* multiplier;
    const std::uint8_t* active;
    float bid_floor;  // p_.bid_floor: folds "bid > 0 and bid >= reserve" into one float compare
    float bid(int k) const { return Bids ? bid_row[row.agent[k]] : multiplier[row.agent[k]] * row.value[k]; }
    bool qualifies(float bid, int k) const { return bid >= bid_floor && active[row.agent[k]]; }
    int agent(int candidate) const { return row.agent[candidate]; }
  };

  // Calls f(capacity, row_bids): capacity = std::integral_constant<int, slots + 1> and row_bids a
  // RowBids<true> (bid_row given) or RowBids<false>, so each ranking is compiled for both.
  template <class F>
  decltype(auto) with_row_bids(const CandidateRow& row, const float* bid_row, const Scratch& w, F&& f) const {
    return with_capacity(p_.S + 1, [&](auto capacity) {
      if (bid_row) return f(capacity, RowBids<true>{row, bid_row, w.multiplier.data(), w.active.data(), p_.bid_floor});
      return f(capacity, RowBids<false>{row, bid_row, w.multiplier.data(), w.active.data(), p_.bid_floor});
    });
  }

  // The two ways a ranking walks a row. push_row_keys: every candidate's rank key into `keys` (0 where
  // it does not qualify or `keep` refuses it: branchless), telling counted(agent, qualifies) each
  // test. offer_row: every qualifying candidate that `keep` accepts to `top` with counter-based tie
  // keys, the exact ranking for rows with equal kept bids (rare). `keep` runs after the qualification
  // test, so tie keys it may draw are drawn for qualifying bids only.
  template <bool Bids, class Keep, class Counted, class Keys>
  static void push_row_keys(const RowBids<Bids>& rb, Keep&& keep, Counted&& counted, Keys& keys) {
    for (int k = 0; k < rb.row.count; ++k) {
      const float bid = rb.bid(k);
      const bool qualifies = rb.qualifies(bid, k);
      counted(rb.agent(k), qualifies);
      keys.push(qualifies && keep(bid, k) ? rank_key(bid, k) : 0);
    }
  }
  template <bool Bids, class Keep, class TieKey>
  static void offer_row(const RowBids<Bids>& rb, Keep&& keep, TieKey&& tie_key, TopBids& top) {
    for (int k = 0; k < rb.row.count; ++k) {
      const float bid = rb.bid(k);
      if (rb.qualifies(bid, k) && keep(bid, k)) top.offer(bid, k, rb.agent(k), tie_key);
    }
  }
  static constexpr auto keep_all = [](float, int) { return true; };

  // The first pass into `top`: the best S+1 bids of the row by the branchless KeyTop network,
  // counting each agent's qualifying bids into bid_count; on equal kept bids, ranked again with
  // tie keys.
  template <int Capacity, bool Bids, class TieKey>
  static void rank_first(const RowBids<Bids>& rb, std::int32_t* bid_count, TieKey&& tie_key, TopBids& top) {
    KeyTop<Capacity> keys;
    keys.clear();
    push_row_keys(rb, keep_all, [&](int agent, bool qualifies) { bid_count[agent] += qualifies; }, keys);
    if (keys.to_top_bids(top, [&](int candidate) { return rb.agent(candidate); })) return;
    top.clear(Capacity);
    offer_row(rb, keep_all, tie_key, top);
  }

  // A re-auction of the overspend rule into `top`; returns how many ranked winners survived.
  // The new top S+1 is the surviving ranked winners in rank order followed by the best
  // candidates ranked strictly below the impression's drop floor (drop_floor.hpp). Those below the
  // floor only lose members within a step (the floor moves down), so the best of them found by one
  // re-auction still contain the answer of every later one: its first `need` keys still below the
  // floor, provided that many remain in the list or the list held every candidate below the floor
  // when it was made. The first re-auction of an impression scans its row and keeps its best
  // Capacity + kSpareKeys keys below the floor; later ones walk that list, and scan again only when
  // it runs dry, keeping Capacity + kSpareKeysAgain keys from then on. KeyTop orders equal bids by candidate, run_auction by tie keys: when two of the
  // appended keys have equal bids, those below the floor are ranked again with TopBids::offer.
  template <int Capacity, bool Bids, class TieKey>
  static int rank_again(const RowBids<Bids>& rb, int j, Scratch& w, TieKey&& tie_key, TopBids& top) {
    constexpr int S = Capacity - 1;
    auto bid_of = [&](int k) { return rb.bid(k); };
    auto agent_of = [&](int candidate) { return rb.agent(candidate); };
    top.clear(Capacity);
    const int survivors = start_reauction(top, &w.outcome[static_cast<std::size_t>(j) * S], S, bid_of, agent_of);
    const int need = Capacity - survivors;
    const int floor_candidate = w.drop_floor[j];
    const DropFloor floor{rb.bid(floor_candidate), floor_candidate, rb.agent(floor_candidate)};
    auto below = [&](float bid, int k) { return ranks_below_floor(bid, k, rb.agent(k), floor, tie_key); };
    std::uint64_t* kept = &w.kept_keys[static_cast<std::size_t>(j) * (Capacity + kSpareKeysAgain)];
    std::int8_t& kept_count = w.kept_count[j];
    std::int8_t& kept_limit = w.kept_limit[j];
    auto candidate_of = [](std::uint64_t key) {
      return static_cast<int>(0xffffffffu - static_cast<std::uint32_t>(key));
    };
    KeyTop<Capacity> best;
    best.clear();
    bool have = false;
    if (kept_count >= 0) {
      int found = 0;
      for (int r = 0; r < kept_count && found < need; ++r) {
        const int k = candidate_of(kept[r]);
        if (below(rb.bid(k), k)) best.key[found++] = kept[r];
      }
      have = found == need || kept_count < kept_limit;
    }
    if (!have) {
      // A list that ran dry (kept_count >= 0) is followed by a longer one.
      auto scan = [&](auto size) {
        constexpr int kKept = decltype(size)::value;
        KeyTop<kKept> keys;
        keys.clear();
        push_row_keys(rb, below, [](int, bool) {}, keys);
        kept_limit = kKept;
        kept_count = 0;
        while (kept_count < kKept && keys.key[kept_count] != 0) {
          kept[kept_count] = keys.key[kept_count];
          ++kept_count;
        }
        for (int r = 0; r < need; ++r) best.key[r] = keys.key[r];
      };
      if (kept_count >= 0) scan(std::integral_constant<int, Capacity + kSpareKeysAgain>{});
      else scan(std::integral_constant<int, Capacity + kSpareKeys>{});
    }
    if (best.append_to(top, agent_of)) return survivors;
    top.count = survivors;
    offer_row(rb, below, tie_key, top);
    return survivors;
  }

  // Ranks and prices impression j into w.outcome and records its drop state (ranked winners, floor).
  // first_pass: draw the candidates (into `rows`' single-row buffers when the step cache is off) and
  // count each agent's qualifying bids into bid_count; later passes reuse the drawn row and rank the
  // surviving winners and the candidates below the floor (rank_again).
  void run_auction(int e, std::uint32_t genv, int t, int j, bool first_pass, Scratch& w,
                   std::int32_t* bid_count = nullptr) const {
    run_auction(e, genv, t, j, first_pass, w, bid_count, w);
  }
  void run_auction(int e, std::uint32_t genv, int t, int j, bool first_pass, Scratch& w, std::int32_t* bid_count,
                   Scratch& rows) const {
    const int S = p_.S;
    const double reserve = p_.reserve;
    const CandidateRow row =
        first_pass ? fill_candidates(e, genv, t, j, w, rows) : cached_candidates(e, genv, t, j, w);
    auto tie_key = [&](int agent) {
      return draw(p_.seed, Purpose::tie, genv, t, j, static_cast<std::uint32_t>(agent))[0];
    };
    const float* bid_row = w.bids ? w.bids + static_cast<std::size_t>(j) * st_.agents : nullptr;
    TopBids top;
    const int survivors = with_row_bids(row, bid_row, w, [&](auto capacity, const auto& rb) {
      constexpr int Capacity = decltype(capacity)::value;
      if (!first_pass) return rank_again<Capacity>(rb, j, w, tie_key, top);
      rank_first<Capacity>(rb, bid_count, tie_key, top);
      return 0;
    });
    w.drop_floor[j] = next_drop_floor(top, S, survivors, first_pass, w.drop_floor[j]);
    // In exact money, as every price (money.hpp): the price slot S would pay.
    if (bid_row) w.least_cost[j] = to_units(to_money(least_winning_cost(top, S, reserve)));
    allocate_slots(p_, top, genv, t, j, [&](int slot, bool shown, double price) {
      SlotOutcome& o = w.outcome[static_cast<std::size_t>(j) * S + slot];
      o.exposed = shown;
      o.candidate = ranked_winner(top, slot);
      if (price < 0.0) {
        o.agent = -1;
        return;
      }
      o.agent = top.entry[slot].agent;
      o.price = to_money(price);
      o.value = row.value[top.entry[slot].candidate];
    });
  }

  bool charged(const SlotOutcome& o) const { return is_charged(o, p_.charge_on_exposure); }

  void total_cost(int M, Scratch& w) const {
    std::fill(w.pass_cost.begin(), w.pass_cost.end(), 0);
    const std::size_t n = static_cast<std::size_t>(M) * p_.S;
    for (std::size_t q = 0; q < n; ++q)
      if (charged(w.outcome[q])) w.pass_cost[w.outcome[q].agent] += w.outcome[q].price;
  }

  // ----- overspend rules -----------------------------------------------------------------------

  // AuctionNet: while someone's step cost exceeds its remaining budget, drop ceil(ratio x wins) of
  // its wins in every slot position at random and re-auction those impressions. Returns passes run.
  int auctionnet_overspend(int e, std::uint32_t genv, int t, int M, Scratch& w) const {
    const int N = st_.agents, S = p_.S;
    const Money* remaining = &st_.remaining_money[st_.index(e, 0)];
    int passes = 1;
    bool any_dropped = false;
    for (;; ++passes) {
      total_cost(M, w);
      int over = 0;
      for (int i = 0; i < N; ++i)
        if (w.pass_cost[i] > remaining[i]) {
          w.over_slot[i] = over;
          w.over_agents[over++] = i;
        }
      if (over == 0) break;
      if (passes > p_.max_passes) {
        for (int q = 0; q < over; ++q) w.over_slot[w.over_agents[q]] = -1;
        truncate_overspend(e, M, w);
        break;
      }
      // Bucket the wins of overspending agents by (agent, slot), in impression order.
      const std::size_t buckets = static_cast<std::size_t>(over) * S;
      std::fill(w.bucket_offset.begin(), w.bucket_offset.begin() + buckets + 1, 0);
      for (std::size_t q = 0; q < static_cast<std::size_t>(M) * S; ++q) {
        const SlotOutcome& o = w.outcome[q];
        if (o.agent >= 0 && w.over_slot[o.agent] >= 0)
          ++w.bucket_offset[static_cast<std::size_t>(w.over_slot[o.agent]) * S + q % S + 1];
      }
      for (std::size_t b = 1; b <= buckets; ++b) w.bucket_offset[b] += w.bucket_offset[b - 1];
      for (int j = 0; j < M; ++j)
        for (int slot = 0; slot < S; ++slot) {
          const SlotOutcome& o = w.outcome[static_cast<std::size_t>(j) * S + slot];
          if (o.agent < 0 || w.over_slot[o.agent] < 0) continue;
          // Filling advances bucket_offset[b] to the bucket's end = the next bucket's start.
          w.bucket[w.bucket_offset[static_cast<std::size_t>(w.over_slot[o.agent]) * S + slot]++] = {0u, j};
        }
      int dirty = 0;
      for (int q_over = 0; q_over < over; ++q_over) {
        const int i = w.over_agents[q_over];
        w.over_slot[i] = -1;  // reset for the next pass
        const double ratio = overspend_drop_ratio(w.pass_cost[i], remaining[i]);
        for (int slot = 0; slot < S; ++slot) {
          const std::size_t b = static_cast<std::size_t>(q_over) * S + slot;
          const std::int32_t end = w.bucket_offset[b];
          const std::int32_t begin = b == 0 ? 0 : w.bucket_offset[b - 1];
          const std::int32_t wins = end - begin;
          if (wins == 0) continue;
          const std::int32_t drop = std::min<std::int32_t>(
              wins, static_cast<std::int32_t>(std::ceil(ratio * wins)));
          auto first = w.bucket.begin() + begin;
          if (drop < wins) {
            // A random subset of `drop` wins: the smallest counter-based keys (ties by impression).
            for (std::int32_t q = 0; q < wins; ++q)
              first[q].first = draw(p_.seed, Purpose::drop, genv, noise_step(t, p_.frozen_noise), first[q].second,
                                    static_cast<std::uint32_t>(i), p_.frozen_noise ? 0 : passes)[0];
            std::nth_element(first, first + drop, first + wins);
          }
          for (std::int32_t q = 0; q < drop; ++q) {
            const std::int32_t j = first[q].second;
            // The dropped winner leaves the ranked winners; the floor keeps it dropped (drop_floor.hpp).
            w.outcome[static_cast<std::size_t>(j) * S + slot].candidate = kNoWinner;
            if (!w.is_dirty[j]) {
              w.is_dirty[j] = 1;
              w.dirty[dirty++] = j;
            }
          }
        }
      }
      any_dropped = true;
      // Re-auction in impression order: sort a short list, scan the flags for a long one.
      if (static_cast<std::int64_t>(dirty) * 16 < M) {
        std::sort(w.dirty.begin(), w.dirty.begin() + dirty);
        for (int q = 0; q < dirty; ++q) {
          run_auction(e, genv, t, w.dirty[q], false, w);
          w.is_dirty[w.dirty[q]] = 0;
        }
      } else {
        for (int j = 0; j < M; ++j)
          if (w.is_dirty[j]) {
            run_auction(e, genv, t, j, false, w);
            w.is_dirty[j] = 0;
          }
      }
    }
    if (any_dropped) std::fill(w.kept_count.begin(), w.kept_count.begin() + M, -1);
    return passes;
  }

  // Truncate: walk each overspending agent's wins in impression (then slot) order and void, leaving
  // the slot unsold, every charged win that would take it past its remaining budget.
  void truncate_overspend(int e, int M, Scratch& w) const {
    const int N = st_.agents, S = p_.S;
    const Money* remaining = &st_.remaining_money[st_.index(e, 0)];
    total_cost(M, w);
    bool over = false;
    for (int i = 0; i < N; ++i) over |= w.pass_cost[i] > remaining[i];
    if (!over) return;
    std::fill(w.running_cost.begin(), w.running_cost.end(), 0);
    for (std::size_t q = 0; q < static_cast<std::size_t>(M) * S; ++q) {
      SlotOutcome& o = w.outcome[q];
      if (!charged(o) || !(w.pass_cost[o.agent] > remaining[o.agent])) continue;
      if (w.running_cost[o.agent] + o.price > remaining[o.agent]) o.agent = -1;
      else w.running_cost[o.agent] += o.price;
    }
  }

  // ----- one step of one environment ------------------------------------------------------------

  // The first auction pass of one environment over all threads: impressions are independent, each
  // thread draws its rows into its own buffers and counts bids into its own array; integer counts
  // summed afterwards do not depend on the split.
  void split_first_pass(int e, std::uint32_t genv, int t, int M, Scratch& w, std::int32_t* bid_count) {
    const int N = st_.agents;
    int team = 1;  // OpenMP may run fewer threads than asked: sum exactly the arrays this team zeroed
#pragma omp parallel num_threads(threads_)
    {
      const int k = omp_get_thread_num();
      if (k == 0) team = omp_get_num_threads();
      Scratch& rows = scratch_[k];
      std::int32_t* counts = k == 0 ? bid_count : rows.thread_bid_count.data();
      if (k > 0) std::fill(counts, counts + N, 0);
#pragma omp for schedule(dynamic, 256)
      for (int j = 0; j < M; ++j) run_auction(e, genv, t, j, true, w, counts, rows);
    }
    for (int k = 1; k < team; ++k) {
      const std::int32_t* counts = scratch_[k].thread_bid_count.data();
      for (int i = 0; i < N; ++i) bid_count[i] += counts[i];
    }
  }

  // One environment's step: with multipliers ([E][N]) or with this env's per-impression bids ([M][N]).
  void step_env(int e, const float* multipliers, const float* bids, ImpressionOutcomes* outcomes, Scratch& w,
                bool split) {
    const int N = st_.agents, t = st_.step;
    const std::uint32_t genv = global_env(st_.episode, s_.market, e);
    const int M = st_.impressions[static_cast<std::size_t>(e) * st_.steps + t];
    const std::size_t base = st_.index(e, 0);
    w.bids = bids;
    w.active_count = 0;
    for (int i = 0; i < N; ++i) {
      const float a = bids ? 0.0f : multipliers[base + i];  // a bids step records multiplier 0
      w.multiplier[i] = a > 0.0f ? a : 0.0f;  // also maps NaN to 0
      const Money remaining = st_.remaining_money[base + i];
      w.active[i] = remaining >= p_.budget_floor && remaining > 0;
      w.active_count += w.active[i];
      st_.step_multiplier[base + i] = w.multiplier[i];
    }
    std::int32_t* bid_count = &st_.step_bid_count[base];
    std::fill(bid_count, bid_count + N, 0);
    split = split && M >= kMinImpressionsToSplit;  // a small step costs less than the fork
    if (split) split_first_pass(e, genv, t, M, w, bid_count);
    else for (int j = 0; j < M; ++j) run_auction(e, genv, t, j, true, w, bid_count);
    int passes = 1;
    if (p_.overspend == OverspendRule::auctionnet) passes = auctionnet_overspend(e, genv, t, M, w);
    else truncate_overspend(e, M, w);
    st_.passes[static_cast<std::size_t>(e) * st_.steps + t] = passes;
    settle(e, genv, t, M, w, split);
    write_observations(obs_ctx_, st_, e, t + 1);  // per env, inside the parallel loop
    if (outcomes) record_outcomes(e, M, w, *outcomes);
    w.bids = nullptr;
  }

  // The final allocation of env e's impressions into the caller's per-impression outcomes.
  void record_outcomes(int e, int M, const Scratch& w, ImpressionOutcomes& out) const {
    const int S = p_.S;
    const std::size_t first = static_cast<std::size_t>(out.offset[e]);
    for (int j = 0; j < M; ++j) {
      out.least_winning_cost[first + j] = w.least_cost[j];
      for (int slot = 0; slot < S; ++slot) {
        const std::size_t q = static_cast<std::size_t>(j) * S + slot, r = first * S + q;
        record_slot_outcome(w.outcome[q], p_.charge_on_exposure, out, r);
      }
    }
  }

  // Whether each exposed win of impression j converts (outcome.converted).
  void draw_conversions(std::size_t base, std::uint32_t genv, int t, int j, Scratch& w) const {
    const int S = p_.S;
    const ConversionTerms an{an_.sigma_mean.data(), an_.bound_lo.data(), an_.bound_hi.data(), an_.cdf_lo.data(),
                             an_.cdf_hi.data()};
    for (int slot = 0; slot < S; ++slot) {
      SlotOutcome& o = w.outcome[static_cast<std::size_t>(j) * S + slot];
      if (o.agent < 0 || !o.exposed) continue;
      o.converted = exposed_win_converts(p_, an, base + o.agent, genv, t, j, o.agent, o.value);
    }
  }

  // Exact money (money.hpp): integer sums, so the order of the additions cannot change them; the
  // doubles of the state are converted from the exact totals once per agent.
  void settle(int e, std::uint32_t genv, int t, int M, Scratch& w, bool split) {
    const int N = st_.agents, S = p_.S;
    const std::size_t base = st_.index(e, 0);
    Money* cost = &st_.step_cost_money[base];
    Money* value = &st_.step_value_money[base];
    std::int32_t* wins = &st_.step_wins[base];
    std::int32_t* exposures = &st_.step_exposures[base];
    std::int32_t* conversions = w.step_conversions.data();
    std::fill(cost, cost + N, 0);
    std::fill(value, value + N, 0);
    std::fill(conversions, conversions + N, 0);
    std::fill(wins, wins + N, 0);
    std::fill(exposures, exposures + N, 0);
    // Conversions are independent per exposed win (counter-based draws): with a split environment
    // they are drawn on every thread first.
    if (split) {
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 256)
      for (int j = 0; j < M; ++j) draw_conversions(base, genv, t, j, w);
    }
    for (int j = 0; j < M; ++j) {
      if (!split) draw_conversions(base, genv, t, j, w);
      for (int slot = 0; slot < S; ++slot) {
        const SlotOutcome& o = w.outcome[static_cast<std::size_t>(j) * S + slot];
        if (o.agent < 0) continue;
        const int i = o.agent;
        ++wins[i];
        if (charged(o)) cost[i] += o.price;
        if (!o.exposed) continue;
        ++exposures[i];
        value[i] += to_money(o.value);
        conversions[i] += o.converted ? 1 : 0;
      }
    }
    Money revenue = 0;
    for (int i = 0; i < N; ++i) {
      const std::size_t a = base + i;
      st_.remaining_money[a] = pay(st_.remaining_money[a], cost[i]);
      st_.cost_money[a] += cost[i];
      st_.value_money[a] += value[i];
      st_.conversions[a] += conversions[i];
      st_.wins[a] += wins[i];
      st_.exposures[a] += exposures[i];
      st_.bid_count[a] += st_.step_bid_count[a];
      revenue += cost[i];
      st_.step_cost[a] = to_units(cost[i]);
      st_.step_value[a] = to_units(value[i]);
      st_.step_conversions[a] = conversions[i];
      st_.step_reward[a] = reward_of(p_.reward, value[i], cost[i], conversions[i]);
      st_.remaining_budget[a] = remaining_to_units(st_.remaining_money[a]);
      st_.cost[a] = to_units(st_.cost_money[a]);
      st_.value[a] = to_units(st_.value_money[a]);
      st_.reward[a] = reward_of(p_.reward, st_.value_money[a], st_.cost_money[a], st_.conversions[a]);
    }
    st_.revenue_money[e] += revenue;
    st_.revenue[e] = to_units(st_.revenue_money[e]);
  }

  const Scenario& s_;
  int threads_;
  CategoryMembers members_;
  const MarketParams p_;  // the scenario's scalars (market_params.hpp), shared with the CUDA kernels
  MarketState st_;
  AuctionNetEpisode an_;
  std::vector<float> value_scale_;
  bool cache_values_ = true;
  std::vector<Scratch> scratch_;
  ObservationContext obs_ctx_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Scenario& scenario, int threads) {
  return std::make_unique<CpuBackend>(scenario, threads);
}

}  // namespace bidsim
