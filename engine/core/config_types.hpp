// Plain scenario configuration: what a YAML scenario parses into (engine/facade/scenario.cpp).
// Host-only data, no behaviour; every field is documented with its YAML key in scenarios/README.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bidsim {

enum class ValueModel { procedural, auctionnet, file };
enum class ProceduralDistribution { lognormal, uniform, exponential };
enum class CandidateMode { dense, sparse };
enum class MechanismKind { second_price, gsp };
enum class OverspendRule { auctionnet, truncate };
enum class RewardKind { value, utility, conversions };
enum class PolicyKind { truthful, constant, pid, cpa };  // order = YAML choice order

// Maximum GSP slots: the auction keeps the top slots+1 bids in registers, so this is small by design.
inline constexpr int kMaxSlots = 8;

struct MarketConfig {
  int envs = 1;     // E: independent environments (episodes) simulated side by side
  int steps = 24;   // T: bidding steps per episode
  // Sharding (set by MPI launches, never a YAML key): this process simulates environments
  // [first_env, first_env + envs) of a batch of `total_envs`; every draw is keyed by the global index,
  // so a batch gives the same results however it is split. total_envs = 0 means unsharded (= envs).
  int first_env = 0;
  int total_envs = 0;
  int batch_envs() const { return total_envs > 0 ? total_envs : envs; }
};

// Agents' static context. Every vector has exactly `count` entries after loading.
struct AgentsConfig {
  int count = 10;                   // N
  int categories = 1;               // number of advertiser / impression categories
  std::vector<int> category;        // category of each agent, in [0, categories)
  std::vector<double> budget;       // B_i, money units
  std::vector<double> cpa;          // CPA target per agent; empty when the scenario has none
  std::vector<double> value_scale;  // multiplies procedural values (advertiser size)
};

struct TrafficJitter {
  int window = 0;      // ticks per window; 0 disables jitter
  double low = 1.0;    // factor ~ U(low, high) per window, then renormalized to the same total
  double high = 1.0;
};

// Impressions per step. Either a constant count, or a total split by a per-step profile.
struct ImpressionsConfig {
  int per_step = 1000;          // used when `profile` is empty
  std::vector<double> profile;  // share of `total` per step (length T), optional
  double total = 0;             // impressions per episode when `profile` is given
  TrafficJitter jitter;
};

struct ProceduralValues {
  ProceduralDistribution distribution = ProceduralDistribution::lognormal;
  double sigma = 0.5;           // lognormal shape (mean is kept at 1)
  double cross_category = 1.0;  // value factor when the impression's category differs from the agent's
};

// AuctionNet's pValue model; the defaults are AuctionNet's constants (shared/data/auctionnet-preset.md).
struct AuctionNetValues {
  double base_mean = 0.0005;
  int window = 8;                        // ticks per category/agent factor window
  double category_low = 0.3, category_high = 1.7;
  double agent_low = 0.5, agent_high = 1.5;
  double std_level_mean = 0.5, std_level_sd = 0.1, std_tick_rel_sd = 0.2;
  double sigma_ratio_mean = 0.15, sigma_ratio_sd = 0.06, sigma_ratio_cap = 0.3,
         sigma_ratio_replacement = 0.2;
};

// Values read from a CSV file `step,impression,agent,value`, laid out per step as CSR over impressions.
struct FileValues {
  std::string path;
  std::vector<int> impressions;             // [T] impressions at each step (max index + 1)
  std::vector<std::int64_t> step_offset;    // [T+1] first impression slot of each step in `row_offset`
  std::vector<std::int64_t> row_offset;     // [Σ impressions + 1] first row of each impression
  std::vector<std::int32_t> agent;          // [rows] candidate agent
  std::vector<float> value;                 // [rows] its value
  int max_candidates = 0;                   // most rows of any impression
};

struct ValuesConfig {
  ValueModel model = ValueModel::procedural;
  ProceduralValues procedural;
  AuctionNetValues auctionnet;
  FileValues file;
};

struct CandidatesConfig {
  CandidateMode mode = CandidateMode::dense;
  int per_impression = 0;        // K for sparse
  bool within_category = false;  // sparse: draw the K among the impression category's agents
};

struct MechanismConfig {
  MechanismKind kind = MechanismKind::second_price;
  int slots = 1;
  std::vector<double> exposure{1.0};  // per-slot exposure probability
  bool exposure_cascade = false;      // slot k shown only if slot k-1 was shown
  double reserve = 0.0;
  bool charge_on_exposure = false;    // cost only when the ad was shown (AuctionNet)
  bool unsold_at_reserve = false;     // a slot priced exactly at the reserve is not sold (AuctionNet)
  bool frozen_noise = false;          // exposure/conversion/drop uniforms reused every tick (AuctionNet's default_rng(1))
};

struct BudgetConfig {
  double floor = 0.0;  // agents with less remaining budget do not bid in the step
  OverspendRule overspend = OverspendRule::auctionnet;
  int max_passes = 64; // AuctionNet rule: re-auction passes before the truncate rule finishes the step
};

struct PidParams {
  double initial = 1.0;     // starting multiplier
  double kp = 2.0, ki = 0.2, kd = 0.0;  // gains on the spend-schedule error, in log-multiplier space
  double min_multiplier = 0.0, max_multiplier = 1e9;
};

struct PolicyConfig {
  std::string name;
  PolicyKind kind = PolicyKind::truthful;
  std::vector<int> agents;           // agents this policy drives by default
  std::vector<double> multiplier;    // constant: one per agent (size N, filled for `agents`)
  double cpa_factor = 1.0;           // cpa: bid cpa_factor × CPA target × value
  PidParams pid;
};

// One (environment, agent) pair driven by another policy than its default (unilateral deviations).
struct Deviation {
  int env = 0;
  int agent = 0;
  int policy = 0;  // index into Scenario::policies
};

struct Scenario {
  std::string source;  // file the scenario came from, for messages
  std::string name;
  std::uint64_t seed = 1;
  MarketConfig market;
  AgentsConfig agents;
  ImpressionsConfig impressions;
  ValuesConfig values;
  CandidatesConfig candidates;
  MechanismConfig mechanism;
  BudgetConfig budget;
  RewardKind reward = RewardKind::value;
  std::vector<PolicyConfig> policies;
  std::vector<Deviation> deviations;
};

const char* to_string(ValueModel);
const char* to_string(CandidateMode);
const char* to_string(MechanismKind);
const char* to_string(OverspendRule);
const char* to_string(RewardKind);
const char* to_string(PolicyKind);

}  // namespace bidsim
