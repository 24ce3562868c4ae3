// The CUDA market backend: the whole step on the device, state resident across steps, the host copy
// made only when state() is asked. Same semantics as engine/cpu/cpu_backend.cpp, step for step:
//   prepare agents -> first auction pass -> overspend rule passes -> conversions -> settle ->
//   revenue -> observations. Kernels are in market_kernels.cuh; this file sizes buffers and launches.
#include "cuda/cuda_backend.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/auction_lanes.hpp"
#include "cuda/check.cuh"
#include "cuda/cuda_context.cuh"
#include "cuda/device.hpp"
#include "cuda/device_buffer.cuh"
#include "engine/core/device_choice.hpp"
#include "cuda/launch.cuh"
#include "cuda/market_kernels.cuh"
#include "engine/core/episode_setup.hpp"
#include "engine/core/errors.hpp"
#include "engine/core/market_params.hpp"
#include "engine/core/observation.hpp"

namespace bidsim::cuda {
namespace {

std::int64_t grid_for(std::int64_t n, int block) { return (n + block - 1) / block; }

constexpr std::size_t kDefaultSharedBytes = 48 * 1024;

// The kernels that run auctions, instantiated for a slot count: their capacity (bids kept per lane)
// is S + 1 up to 4, else kMaxSlots + 1. The one place that maps slots to an instantiation (launch
// and attributes).
struct AuctionKernel {
  void (*kernel)(MarketView, bool, int);
  const char* name;
  void (*tail)(MarketView, bool, int);  // overspend_tail_kernel: re-auctions inside
  const char* tail_name;
};
template <int Capacity>
AuctionKernel auction_kernels(const char* name, const char* tail_name) {
  return {auction_kernel<Capacity>, name, overspend_tail_kernel<Capacity>, tail_name};
}
AuctionKernel auction_kernel_for(int slots) {
  switch (slots + 1) {
    case 2: return auction_kernels<2>("auction_kernel<2>", "overspend_tail_kernel<2>");
    case 3: return auction_kernels<3>("auction_kernel<3>", "overspend_tail_kernel<3>");
    case 4: return auction_kernels<4>("auction_kernel<4>", "overspend_tail_kernel<4>");
    default:
      return auction_kernels<kMaxSlots + 1>("auction_kernel<kMaxSlots + 1>", "overspend_tail_kernel<kMaxSlots + 1>");
  }
}
// Bid counting in a per-block shared histogram pays off while it is small; above, global atomics.
constexpr int kMaxSharedCountAgents = 8192;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const Scenario& scenario) : s_(scenario), p_(market_params(scenario)) {
    const int E = p_.E, N = p_.N, S = p_.S;
    E_ = E;
    N_ = N;
    T_ = p_.T;
    S_ = S;
    C_ = p_.C;
    const std::uint64_t buckets = static_cast<std::uint64_t>(E) * N * S;
    if (buckets >= (std::uint64_t{1} << 32) - 1)
      throw UsageError("--device cuda: market.envs x agents.count x mechanism.slots = " + std::to_string(buckets) +
                       ", expected below 2^32 for the CUDA backend (use fewer environments per batch)");
    auction_ = auction_kernel_for(S);
    const int K = p_.K;
    group_lanes_ = auction_group_lanes(s_);
    const std::size_t groups = static_cast<std::size_t>(auction_groups_per_block(group_lanes_));
    shared_bid_count_ = N <= kMaxSharedCountAgents;
    shared_bytes_ = (static_cast<std::size_t>(shared_bid_count_ ? N : 0) + groups * K) * sizeof(std::int32_t);
    int optin = 0;
    BIDSIM_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, ctx_.device()));
    if (shared_bytes_ > static_cast<std::size_t>(optin) && shared_bid_count_) {
      shared_bid_count_ = false;  // give the sparse rows all the shared memory
      shared_bytes_ = groups * K * sizeof(std::int32_t);
    }
    if (shared_bytes_ > static_cast<std::size_t>(optin))
      throw UsageError("--device cuda: candidates.per_impression = " + std::to_string(K) + ", expected at most " +
                       std::to_string(optin / (groups * sizeof(std::int32_t))) +
                       " for the CUDA backend (one shared-memory row per lane group of the auction kernel)");
    // cudaFuncSetAttribute is process-wide: a limit set to this backend's own need would be lowered
    // under an earlier backend by a later one with a smaller need, and the earlier one's launches
    // would fail. Every backend that needs more than the default sets the same value, the device's
    // opt-in maximum, so no backend ever lowers it (the limit permits; it reserves nothing).
    if (shared_bytes_ > kDefaultSharedBytes)
      BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(auction_.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
    // The tail kernel's rows: the lane groups' sparse candidates, then the env's pass costs when they fit.
    const std::size_t sparse_rows = groups * K * sizeof(std::int32_t);
    const std::size_t cost_row = static_cast<std::size_t>(N) * sizeof(unsigned long long);
    tail_shared_cost_ = N <= kMaxSharedSumAgents && sparse_rows + cost_row <= static_cast<std::size_t>(optin);
    tail_shared_bytes_ = sparse_rows + (tail_shared_cost_ ? cost_row : 0);
    if (tail_shared_bytes_ > kDefaultSharedBytes)
      BIDSIM_CUDA_CHECK(cudaFuncSetAttribute(auction_.tail, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));

    int multiprocessors = 1;
    BIDSIM_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, ctx_.device()));
    auction_blocks_ = static_cast<std::int64_t>(std::max(multiprocessors, 1)) * kAuctionBlocksPerSM;

    allocate_constants();
    allocate_state();
    reset(0);
  }

  const char* name() const override { return "cuda"; }
  int step_index() const override { return st_.step; }
  bool device_resident() const override { return true; }
#ifdef BIDSIM_CUDA_EMULATION
  bool device_memory_on_host() const override { return true; }  // the emulator's "device" is host memory
#endif

  void reset(std::uint64_t episode) override {
    const int E = E_, N = N_, T = T_;
    ctx_.synchronize();  // host staging vectors below may still feed an earlier copy
    st_.episode = episode;
    st_.step = 0;
    counters_.steps.clear();
    std::vector<std::uint32_t> genv(E);
    for (int e = 0; e < E; ++e) {
      genv[e] = global_env(episode, s_.market, e);
      episode_impressions(s_, genv[e], &st_.impressions[static_cast<std::size_t>(e) * T]);
      if (s_.values.model == ValueModel::auctionnet) auctionnet_episode(s_, genv[e], e, an_);
    }
    // Flat impression and auction-tile offsets of every step: [T][E+1].
    impression_offset_.assign(static_cast<std::size_t>(T) * (E + 1), 0);
    tile_offset_.assign(static_cast<std::size_t>(T) * (E + 1), 0);
    std::int64_t max_impressions = 0;
    for (int t = 0; t < T; ++t) {
      std::int64_t* io = &impression_offset_[static_cast<std::size_t>(t) * (E + 1)];
      std::int32_t* to = &tile_offset_[static_cast<std::size_t>(t) * (E + 1)];
      std::int64_t tiles = 0;
      for (int e = 0; e < E; ++e) {
        const std::int64_t M = st_.impressions[static_cast<std::size_t>(e) * T + t];
        io[e + 1] = io[e] + M;
        tiles += (M + impressions_per_tile(group_lanes_) - 1) / impressions_per_tile(group_lanes_);
        if (tiles > INT32_MAX) throw UsageError("--device cuda: too many impressions in one step for the CUDA backend");
        to[e + 1] = static_cast<std::int32_t>(tiles);
      }
      max_impressions = std::max(max_impressions, io[E]);
    }
    if (max_impressions * S_ >= INT32_MAX)
      throw UsageError("--device cuda: " + std::to_string(max_impressions) + " impressions x " + std::to_string(S_) +
                       " slots in one step, expected below 2^31 for the CUDA backend (fewer environments per batch)");
    size_step_scratch(max_impressions);

    ctx_.upload(d_genv_, genv);
    ctx_.upload(d_impression_offset_, impression_offset_);
    ctx_.upload(d_tile_offset_, tile_offset_);
    if (s_.values.model == ValueModel::auctionnet) {
      ctx_.upload(d_an_mean_, an_.mean);
      ctx_.upload(d_an_std_, an_.std_dev);
      ctx_.upload(d_an_sigma_mean_, an_.sigma_mean);
      ctx_.upload(d_an_bound_lo_, an_.bound_lo);
      ctx_.upload(d_an_bound_hi_, an_.bound_hi);
      ctx_.upload(d_an_cdf_lo_, an_.cdf_lo);
      ctx_.upload(d_an_cdf_hi_, an_.cdf_hi);
    }
    budget_money_.resize(static_cast<std::size_t>(E) * N);
    budget_units_.resize(budget_money_.size());
    for (int e = 0; e < E; ++e)
      for (int i = 0; i < N; ++i) {
        const std::size_t a = static_cast<std::size_t>(e) * N + i;
        budget_money_[a] = budget_to_money(s_.agents.budget[i]);
        budget_units_[a] = remaining_to_units(budget_money_[a]);
      }
    ctx_.upload(dev_.remaining_money, budget_money_);
    ctx_.upload(dev_.remaining_budget, budget_units_);
#define BIDSIM_ZERO_AT_RESET(name, type, shape, zeroed) \
  if (zeroed) ctx_.zero(dev_.name);
    BIDSIM_MARKET_STATE_FIELDS(BIDSIM_ZERO_AT_RESET)
#undef BIDSIM_ZERO_AT_RESET
    const MarketView v = view(0);
    write_observations(v, 0);
    host_current_ = false;
  }

  void step(const float* multipliers) override {
    if (st_.step >= T_) return;  // the episode is over; the facade reports this as an error
    const DeviceCounts before = ctx_.counts();
    // The upload is asynchronous: from a pinned array it could still be reading the caller's
    // multipliers after step() returns. A pageable copy is consumed before cudaMemcpyAsync returns,
    // so the caller's array (pinned or not) is free once step() returns.
    multiplier_staging_.assign(multipliers, multipliers + static_cast<std::size_t>(E_) * N_);
    ctx_.upload(dev_.multiplier_in, multiplier_staging_.data(), multiplier_staging_.size());
    run_step(before);
  }

  void step_on_device() override {
    if (st_.step >= T_) return;
    const DeviceCounts before = ctx_.counts();  // a copy: run_step compares the live counts with it
    run_step(before);
  }

  // Per-impression bids [rows][N] (impression_bids.hpp): uploaded, the same run_step with the bids
  // read in place of multiplier x value, then the final allocation copied back per impression.
  void step_bids(const float* bids, ImpressionOutcomes* outcomes) override {
    if (st_.step >= T_) return;
    const DeviceCounts before = ctx_.counts();
    const std::size_t row_count = static_cast<std::size_t>(impression_offset_[static_cast<std::size_t>(st_.step) * (E_ + 1) + E_]);
    const std::size_t items = row_count * S_;
    d_bids_.reserve(std::max<std::size_t>(row_count * N_, 1));
    d_least_cost_.reserve(std::max<std::size_t>(row_count, 1));
    // From the backend's own pageable copy, as step() does with the multipliers: the caller's array
    // (pinned or not) is free once step_bids() returns, whatever the copy engine is still doing.
    bids_staging_.assign(bids, bids + row_count * N_);
    ctx_.upload(d_bids_, bids_staging_.data(), bids_staging_.size());
    bids_step_ = true;
    try {
      run_step(before);
    } catch (...) {
      bids_step_ = false;
      throw;
    }
    bids_step_ = false;
    if (!outcomes || items == 0) return;
    std::vector<SlotOutcome> slots(items);
    // The per-impression outcomes are a host copy like state(): counted outside the steps.
    ctx_.download(d_outcome_, slots.data(), items);
    ctx_.download(d_least_cost_, outcomes->least_winning_cost.data(), row_count);
    ctx_.synchronize();
    for (std::size_t q = 0; q < items; ++q) record_slot_outcome(slots[q], p_.charge_on_exposure, *outcomes, q);
  }

  const std::vector<std::int32_t>& impressions_per_step() const override { return st_.impressions; }
  const AuctionNetEpisode& auctionnet_parameters() const override { return an_; }
  std::uint64_t episode() const override { return st_.episode; }

  void synchronize() override { ctx_.synchronize(); }

  const DeviceCounters* device_counters() override {
    counters_.total = ctx_.counts();
    counters_.outside_steps = counters_.total - steps_total_;
    return &counters_;
  }

  const MarketState& state() override {
    if (!host_current_) download_state();
    return st_;
  }

  // See time_auction_kernel() in cuda_backend.hpp.
  AuctionKernelTiming time_first_pass(const float* multipliers, int repeats) {
    const cudaStream_t stream = ctx_.stream();
    ctx_.upload(dev_.multiplier_in, multipliers, static_cast<std::size_t>(E_) * N_);
    const MarketView v = view(0);
    ctx_.launch_over("prepare_agents_kernel", prepare_agents_kernel, static_cast<std::int64_t>(E_) * N_, kElementThreads, 0, v);
    launch_auction(v, true);  // warm-up
    cudaEvent_t start, stop;
    BIDSIM_CUDA_CHECK(cudaEventCreate(&start));
    BIDSIM_CUDA_CHECK(cudaEventCreate(&stop));
    BIDSIM_CUDA_CHECK(cudaEventRecord(start, stream));
    for (int r = 0; r < repeats; ++r) launch_auction(v, true);
    BIDSIM_CUDA_CHECK(cudaEventRecord(stop, stream));
    BIDSIM_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    BIDSIM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    AuctionKernelTiming timing;
    timing.milliseconds = ms / repeats;
    const std::int64_t M = impression_offset_[E_];
    const std::int64_t rows = s_.values.model == ValueModel::file
        ? s_.values.file.row_offset[s_.values.file.step_offset[0] + st_.impressions[0]] - s_.values.file.row_offset[s_.values.file.step_offset[0]]
        : M * C_;
    timing.bids = s_.values.model == ValueModel::file ? rows * E_ : rows;
    // Reads: each candidate row (file: agent + value), the row offsets, multiplier + active per
    // (env, agent), AuctionNet's per-agent mean/std; writes: the outcomes and the bid counts.
    std::int64_t bytes = static_cast<std::int64_t>(E_) * N_ * (sizeof(float) + 1 + 2 * sizeof(std::int32_t)) +
                         M * S_ * static_cast<std::int64_t>(sizeof(SlotOutcome));
    if (s_.values.model == ValueModel::file) bytes += timing.bids * 8 + (M + E_) * 8;
    if (s_.values.model == ValueModel::auctionnet) bytes += static_cast<std::int64_t>(E_) * N_ * 8;
    timing.bytes = bytes;
    return timing;
  }

  DeviceTensorView device_tensor(MarketTensor which) override {
    DeviceTensorView view;
    view.stream = ctx_.stream();
    view.device = ctx_.device();
    view.shape = {E_, N_};
    switch (which) {
      case MarketTensor::multipliers: view.data = dev_.multiplier_in.data(); view.dtype = DType::float32; break;
      case MarketTensor::observations:
        view.data = dev_.observation.data();
        view.dtype = DType::float32;
        view.shape.push_back(kObservationWidth);
        break;
      case MarketTensor::step_reward: view.data = dev_.step_reward.data(); view.dtype = DType::float64; break;
      case MarketTensor::step_cost: view.data = dev_.step_cost.data(); view.dtype = DType::float64; break;
      case MarketTensor::step_value: view.data = dev_.step_value.data(); view.dtype = DType::float64; break;
      case MarketTensor::remaining_budget: view.data = dev_.remaining_budget.data(); view.dtype = DType::float64; break;
      case MarketTensor::reward: view.data = dev_.reward.data(); view.dtype = DType::float64; break;
    }
    return view;
  }

 private:
  // Scenario constants: uploaded once.
  void allocate_constants() {
    std::vector<float> value_scale(s_.agents.value_scale.begin(), s_.agents.value_scale.end());
    ctx_.upload(d_value_scale_, value_scale);
    ctx_.upload(d_agent_category_, s_.agents.category);
    const CategoryMembers members = category_members(s_.agents);
    ctx_.upload(d_members_, members.members);
    ctx_.upload(d_member_offset_, members.offset);
    if (s_.values.model == ValueModel::file) {
      const FileValues& f = s_.values.file;
      ctx_.upload(d_file_step_offset_, f.step_offset);
      ctx_.upload(d_file_row_offset_, f.row_offset);
      ctx_.upload(d_file_agent_, f.agent);
      ctx_.upload(d_file_value_, f.value);
    }
    const ObservationContext ctx = ObservationContext::from(s_);
    std::vector<float> category, scale, level, cpa;
    std::vector<double> denominator;
    std::vector<std::uint8_t> bounded;
    for (int i = 0; i < N_; ++i) {
      const AgentObservationStatics c = ctx.statics(i);
      category.push_back(c.category);
      scale.push_back(c.value_scale);
      level.push_back(c.budget_level);
      cpa.push_back(c.cpa_level);
      denominator.push_back(c.budget_denominator);
      bounded.push_back(c.bounded ? 1 : 0);
    }
    ctx_.upload(d_obs_category_, category);
    ctx_.upload(d_obs_value_scale_, scale);
    ctx_.upload(d_obs_budget_level_, level);
    ctx_.upload(d_obs_cpa_level_, cpa);
    ctx_.upload(d_obs_budget_denominator_, denominator);
    ctx_.upload(d_obs_bounded_, bounded);
    ctx_.synchronize();  // the host vectors above go out of scope
  }

  // [E][N] state, its host mirror and the per-episode AuctionNet parameters.
  void allocate_state() {
    st_.allocate(E_, N_, T_);
    const MarketDims dims{E_, N_, T_, S_, kObservationWidth};
    // The device-only fields marked `zeroed` stay zero between uses (the drop buckets between rounds)
    // or must read as zero before their first write (the actions before the first step).
#define BIDSIM_ALLOCATE(name, type, shape, zeroed) dev_.name.resize(dims.elements(FieldShape::shape));
#define BIDSIM_ALLOCATE_DEVICE_ONLY(name, type, shape, zeroed) \
  dev_.name.resize(dims.elements(FieldShape::shape));          \
  if (zeroed) ctx_.zero(dev_.name);
    BIDSIM_MARKET_STATE_FIELDS(BIDSIM_ALLOCATE)
    BIDSIM_DEVICE_STATE_FIELDS(BIDSIM_ALLOCATE_DEVICE_ONLY)
#undef BIDSIM_ALLOCATE
#undef BIDSIM_ALLOCATE_DEVICE_ONLY
    d_control_.resize(kControlWords);
    ctx_.zero(d_control_);
    if (p_.model == ValueModel::auctionnet) an_.allocate(p_.E, p_.N, p_.T);
  }

  // Per-step scratch for the largest step of this batch of episodes (grow-only).
  void size_step_scratch(std::int64_t max_impressions) {
    const std::size_t items = static_cast<std::size_t>(max_impressions) * S_;
    d_outcome_.reserve(items);
    d_drop_key_.reserve(items);
    d_drop_index_.reserve(items);
    if (d_dirty_.reserve(static_cast<std::size_t>(max_impressions))) ctx_.zero(d_dirty_);
    // The drop floor (engine/core/drop_floor.hpp): every first auction pass writes it, nothing to zero.
    d_drop_floor_.reserve(static_cast<std::size_t>(max_impressions));
  }

  MarketView view(int t) {
    MarketView v{};
    v.params = p_;
    v.shared_bid_count = shared_bid_count_;
    v.bids = bids_step_ ? d_bids_.data() : nullptr;
    v.least_cost = bids_step_ ? d_least_cost_.data() : nullptr;
    v.record_conversions = bids_step_;
    v.value_scale = d_value_scale_.data();
    v.agent_category = d_agent_category_.data();
    v.members = d_members_.data();
    v.member_offset = d_member_offset_.data();
    v.file_step_offset = d_file_step_offset_.data();
    v.file_row_offset = d_file_row_offset_.data();
    v.file_agent = d_file_agent_.data();
    v.file_value = d_file_value_.data();
    v.obs_category = d_obs_category_.data();
    v.obs_value_scale = d_obs_value_scale_.data();
    v.obs_budget_level = d_obs_budget_level_.data();
    v.obs_cpa_level = d_obs_cpa_level_.data();
    v.obs_budget_denominator = d_obs_budget_denominator_.data();
    v.obs_bounded = d_obs_bounded_.data();
    v.genv = d_genv_.data();
    v.an_mean = d_an_mean_.data();
    v.an_std = d_an_std_.data();
    v.an_sigma_mean = d_an_sigma_mean_.data();
    v.an_bound_lo = d_an_bound_lo_.data();
    v.an_bound_hi = d_an_bound_hi_.data();
    v.an_cdf_lo = d_an_cdf_lo_.data();
    v.an_cdf_hi = d_an_cdf_hi_.data();
    v.t = t;
    const std::size_t row = static_cast<std::size_t>(t < T_ ? t : 0) * (E_ + 1);
    v.items = impression_offset_.empty() ? 0 : impression_offset_[row + E_] * S_;
    v.impression_offset = d_impression_offset_.data() + row;
    v.tile_offset = d_tile_offset_.data() + row;
#define BIDSIM_VIEW_POINTER(name, type, shape, zeroed) v.name = dev_.name.data();
    BIDSIM_MARKET_STATE_FIELDS(BIDSIM_VIEW_POINTER)
    BIDSIM_DEVICE_STATE_FIELDS(BIDSIM_VIEW_POINTER)
#undef BIDSIM_VIEW_POINTER
    v.outcome = d_outcome_.data();
    v.drop_floor = d_drop_floor_.data();
    v.dirty = d_dirty_.data();
    v.drop_key = d_drop_key_.data();
    v.drop_index = d_drop_index_.data();
    v.control = d_control_.data();
    return v;
  }

  // The persistent auction grid: one block per tile up to kAuctionBlocksPerSM blocks per
  // multiprocessor, each then taking a contiguous run of tiles.
  void launch_auction(const MarketView& v, bool first_pass) {
    const int tiles = tile_offset_[static_cast<std::size_t>(v.t) * (E_ + 1) + E_];
    ctx_.launch_blocks(auction_.name, auction_.kernel, std::min<std::int64_t>(tiles, auction_blocks_), kAuctionThreads,
                       shared_bytes_, v, first_pass, group_lanes_);
  }

  // Dynamic shared bytes of the per-agent sum kernels (0: global atomics only, N too large).
  std::size_t sum_shared_bytes(int fields) const {
    return N_ <= kMaxSharedSumAgents ? static_cast<std::size_t>(fields) * N_ * sizeof(unsigned long long) : 0;
  }

  // Exact pass cost per agent (integer atomics, no sort), then who overspends.
  void pass_costs(const MarketView& v) {
    ctx_.zero(dev_.pass_cost);
    const std::size_t shared = sum_shared_bytes(1);
    ctx_.launch_blocks("pass_cost_kernel", pass_cost_kernel, grid_for(v.items, kOutcomesPerSumBlock), kElementThreads,
                       shared, v, shared > 0);
    ctx_.launch_over("overspenders_kernel", overspenders_kernel, static_cast<std::int64_t>(E_) * N_, kElementThreads, 0, v);
  }

  // One step with the multipliers already in dev_.multiplier_in (cpu_backend.cpp step_env for all
  // envs), as a pipeline of the CPU backend's phases. The device operations since `before` (the
  // counts when step() began) are recorded as this step's.
  void run_step(const DeviceCounts& before) {
    const int t = st_.step;
    if (static_cast<std::int64_t>(E_) * N_ > 0) {
      const MarketView v = view(t);
      prepare_agents(v);
      first_auction_pass(v);
      if (p_.overspend == OverspendRule::auctionnet) auctionnet_overspend(v);
      else truncate_overspend(v);
      settle(v);
      write_observations(v, t + 1);
    }
    ++st_.step;
    host_current_ = false;
    record_step(ctx_.counts() - before);
  }

  void prepare_agents(const MarketView& v) {
    ctx_.launch_over("prepare_agents_kernel", prepare_agents_kernel, agents(), kElementThreads, 0, v);
  }

  void first_auction_pass(const MarketView& v) {
    launch_auction(v, true);
    ctx_.launch_over("start_passes_kernel", start_passes_kernel, E_, kElementThreads, 0, v);
  }

  // One decision of the overspend rule for every env still open: pass costs, who overspends, and
  // per env settle (nobody over), truncate (that rule, or max_passes reached) or drop.
  void decide_pass(const MarketView& v, bool auctionnet_rule) {
    ctx_.zero(d_control_, 2);  // kPending, kOverspenders (overspenders_kernel numbers them)
    pass_costs(v);
    ctx_.launch_blocks("env_decide_kernel", env_decide_kernel, E_, kElementThreads, 0, v, auctionnet_rule);
  }

  // cpu_backend.cpp truncate_overspend: one decision, which truncates where anyone overspends.
  void truncate_overspend(const MarketView& v) {
    decide_pass(v, false);
    ctx_.launch_over("truncate_kernel", truncate_kernel, agents(), kElementThreads, 0, v);
    ctx_.launch_over("finish_truncate_kernel", finish_truncate_kernel, E_, kElementThreads, 0, v);
  }

  // cpu_backend.cpp auctionnet_overspend for all envs, decided on the device with nothing read back
  // (issue 15 item 2): kGridPasses passes on the whole grid (a decision, then a drop round; a pass at
  // most max_passes never truncates), then one launch of overspend_tail_kernel, which runs each env
  // still open to the rule's end in one block (market_kernels.cuh). So every step makes the same
  // launches, whatever its pass counts, and no host synchronization. (Before: the host read two
  // control words after a burst of decisions and doubled the burst while an env was open: 1.19
  // synchronizations and 47.7 launches per step on the AuctionNet preset; docs/gpu-design.md.)
  void auctionnet_overspend(const MarketView& v) {
    const int grid_passes = std::min(kGridPasses, p_.max_passes);
    for (int pass = 0; pass < grid_passes; ++pass) {
      decide_pass(v, true);
      drop_round(v);
    }
    ctx_.launch_blocks(auction_.tail_name, auction_.tail, E_, kAuctionThreads, tail_shared_bytes_, v, tail_shared_cost_,
                       group_lanes_);
  }

  // One drop round of the AuctionNet rule for the envs that drop this pass: select the wins to drop
  // (count, scan, scatter, select: no sort), re-auction the impressions that lost a winner, and move
  // those envs to their next pass.
  void drop_round(const MarketView& v) {
    ctx_.launch_over("count_drop_wins_kernel", count_drop_wins_kernel, v.items, kElementThreads, 0, v);
    ctx_.launch_blocks("scan_drop_buckets_kernel", scan_drop_buckets_kernel, 1, kScanThreads, 0, v);
    ctx_.launch_over("scatter_drop_wins_kernel", scatter_drop_wins_kernel, v.items, kElementThreads, 0, v);
    ctx_.launch_blocks("select_drops_kernel", select_drops_kernel,
                       std::min<std::int64_t>(agents() * S_, kSelectBlocks), kElementThreads, 0, v);
    launch_auction(v, false);
    ctx_.launch_over("advance_passes_kernel", advance_passes_kernel, E_, kElementThreads, 0, v);
  }

  // cpu_backend.cpp settle: exact per-agent sums over the final outcomes, then the accounts and
  // outputs per agent.
  void settle(const MarketView& v) {
    for (auto* b : {&dev_.step_cost_money, &dev_.step_value_money}) ctx_.zero(*b);
    for (auto* b : {&dev_.step_wins, &dev_.step_exposures, &dev_.step_conversion_count}) ctx_.zero(*b);
    const std::size_t shared = sum_shared_bytes(5);
    ctx_.launch_blocks("settle_outcomes_kernel", settle_outcomes_kernel, grid_for(v.items, kOutcomesPerSumBlock),
                       kElementThreads, shared, v, shared > 0);
    ctx_.launch_over("settle_agents_kernel", settle_agents_kernel, agents(), kElementThreads, 0, v);
  }

  void write_observations(const MarketView& v, int step) {
    ctx_.launch_over("observations_kernel", observations_kernel, agents(), kElementThreads, 0, v, step);
  }

  std::int64_t agents() const { return static_cast<std::int64_t>(E_) * N_; }

  void record_step(const DeviceCounts& step) {
    counters_.steps.push_back(step);
    steps_total_ += step;
  }

  void download_state() {
#define BIDSIM_DOWNLOAD(name, type, shape, zeroed) ctx_.download(dev_.name, st_.name.data(), st_.name.size());
    BIDSIM_MARKET_STATE_FIELDS(BIDSIM_DOWNLOAD)
#undef BIDSIM_DOWNLOAD
    ctx_.synchronize();
    for (int e = 0; e < E_; ++e) st_.revenue[e] = to_units(st_.revenue_money[e]);
    host_current_ = true;
  }

  const Scenario& s_;
  const MarketParams p_;  // the scenario's scalars (engine/core/market_params.hpp), MarketView::params
  CudaContext ctx_;
  int E_ = 0, N_ = 0, T_ = 0, S_ = 0, C_ = 0;
  AuctionKernel auction_{};
  bool shared_bid_count_ = true;
  int group_lanes_ = kMaxGroupLanes;  // lanes per impression in the auction kernels (auction_lanes.hpp)
  std::size_t shared_bytes_ = 0;
  bool host_current_ = false;
  bool bids_step_ = false;  // run_step reads d_bids_ (step_bids) instead of the multipliers
  MarketState st_;
  DeviceCounters counters_;
  DeviceCounts steps_total_;  // sum of every step's counts since construction
  std::int64_t auction_blocks_ = 1;     // the persistent auction grid's most blocks
  std::size_t tail_shared_bytes_ = 0;  // overspend_tail_kernel's dynamic shared memory
  bool tail_shared_cost_ = false;       // it sums pass costs in shared memory (N small enough)
  AuctionNetEpisode an_;
  std::vector<std::int64_t> impression_offset_;  // [T][E+1], host copy
  std::vector<std::int32_t> tile_offset_;        // [T][E+1], host copy
  std::vector<Money> budget_money_;              // [E][N] upload staging (kept: the copy is async)
  std::vector<double> budget_units_;
  std::vector<float> multiplier_staging_;        // [E][N] step()'s pageable copy of the multipliers
  std::vector<float> bids_staging_;              // [impressions][N] step_bids()'s pageable copy of the bids

  // scenario constants
  DeviceBuffer<float> d_value_scale_;
  DeviceBuffer<std::int32_t> d_agent_category_, d_members_, d_member_offset_;
  DeviceBuffer<std::int64_t> d_file_step_offset_, d_file_row_offset_;
  DeviceBuffer<std::int32_t> d_file_agent_;
  DeviceBuffer<float> d_file_value_;
  DeviceBuffer<float> d_obs_category_, d_obs_value_scale_, d_obs_budget_level_, d_obs_cpa_level_;
  DeviceBuffer<double> d_obs_budget_denominator_;
  DeviceBuffer<std::uint8_t> d_obs_bounded_;
  // episode
  DeviceBuffer<std::uint32_t> d_genv_;
  DeviceBuffer<std::int64_t> d_impression_offset_;
  DeviceBuffer<std::int32_t> d_tile_offset_;
  DeviceBuffer<float> d_an_mean_, d_an_std_, d_an_sigma_mean_, d_an_bound_lo_, d_an_bound_hi_;
  DeviceBuffer<double> d_an_cdf_lo_, d_an_cdf_hi_;
  // The market state on the device: one buffer per field of engine/core/market_fields.hpp's lists.
  struct DeviceState {
#define BIDSIM_DEVICE_BUFFER(name, type, shape, zeroed) DeviceBuffer<type> name;
    BIDSIM_MARKET_STATE_FIELDS(BIDSIM_DEVICE_BUFFER)
    BIDSIM_DEVICE_STATE_FIELDS(BIDSIM_DEVICE_BUFFER)
#undef BIDSIM_DEVICE_BUFFER
  };
  DeviceState dev_;
  DeviceBuffer<std::int32_t> d_control_;  // [kControlWords] ControlWord
  // step scratch
  DeviceBuffer<SlotOutcome> d_outcome_;
  DeviceBuffer<std::uint8_t> d_dirty_;
  DeviceBuffer<std::int32_t> d_drop_floor_;  // [impressions] the lowest-ranked candidate that won this step
  DeviceBuffer<std::uint64_t> d_drop_key_;
  DeviceBuffer<std::uint32_t> d_drop_index_;
  // step_bids: the bids of the step and its per-impression outputs
  DeviceBuffer<float> d_bids_;
  DeviceBuffer<double> d_least_cost_;
};

}  // namespace

AuctionKernelTiming time_auction_kernel(const Scenario& scenario, const float* multipliers, int repeats) {
  require_cuda_device("time_auction_kernel");
  CudaBackend backend(scenario);
  return backend.time_first_pass(multipliers, repeats > 0 ? repeats : 1);
}

std::unique_ptr<Backend> make_cuda_backend(const Scenario& scenario) {
  require_cuda_device("--device cuda");
  return std::make_unique<CudaBackend>(scenario);
}

}  // namespace bidsim::cuda
