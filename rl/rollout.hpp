// The rollout collector: runs the batched engine for T steps with policy inference on the chosen
// device and returns [E, T, N, ...] trajectory tensors; plus the return-to-go / baseline estimators.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/simulator.hpp"
#include "rl/policy.hpp"

namespace bidsim::rl {

// Who acts in one batch: `base` for every (env, agent), except agent deviator[e] of env e, who
// follows `deviation` (a unilateral deviation, BPG's weighted POMDP, or a best response).
struct RolloutRequest {
  Actor base;                        // learned base policy, or empty when `builtin` acts
  BuiltinPolicies* builtin = nullptr;  // the scenario's built-in policies as the (deterministic) base
  Actor deviation;                   // needed when some deviator[e] >= 0
  std::vector<int> deviator;         // [E]: deviating agent of env e, or -1; empty = nobody deviates
  bool deterministic_base = false;       // act with the mean (no exploration noise)
  bool deterministic_deviation = false;
  std::uint64_t episode = 0;         // engine episode: batches with the same episode see the same market draws
  std::uint64_t noise_key = 0;       // key of the exploration noise of this batch
  // Optional hooks that see this rank's engine state (its block of envs) before and after every step,
  // e.g. to stream the rollout to a dataset (bidsim rollout) without holding [E,T,N,...] twice.
  std::function<void(const MarketState&)> before_step, after_step;
};

// [E, T, N, ...] tensors on the collector's device. Row (e, t, i) is what agent i of env e saw and did
// at step t; reward/cost are what that step brought it.
struct Trajectory {
  int envs = 0, steps = 0, agents = 0;
  torch::Tensor observation;          // [E,T,N,F] observation before acting at step t
  torch::Tensor initial_observation;  // [E,N,F] observation at t = 0 (the initial local state)
  torch::Tensor action;               // [E,T,N] log multiplier u (the bid multiplier is exp(u))
  torch::Tensor base_mean;            // [E,T,N] mean log multiplier the base policy proposed
  torch::Tensor reward;               // [E,T,N] step reward under the scenario's reward kind
  torch::Tensor cost;                 // [E,T,N] step cost (money)
  torch::Tensor deviator;             // [E] int64, -1 where nobody deviates

  torch::Tensor returns() const { return reward.sum(1); }  // [E,N] G_i per env
  torch::Tensor deviating_envs() const;                     // [E'] indices of envs with a deviator
};

// How one collect() moves data between the engine and the policies, chosen in one place
// (choose_engine_io) instead of being implied by several flags:
enum class EngineIO {
  host_views,      // one process, engine state on the host: each step's arrays are viewed (from_blob)
                   // and copied once into the trajectory on the policies' device
  gathered_host,   // MPI ranks each step their block of envs; observations, built-in actions and
                   // money are all-gathered into whole-batch host arrays every step
  device_buffers,  // zero copy: the policies read the engine's device observation buffer and write its
                   // multiplier buffer directly (CUDA backend with policies on its GPU, or the emulator
                   // with policies on the CPU)
};
const char* engine_io_name(EngineIO io);

// The rule: device_buffers when the engine is device-resident, the policies live in the engine's
// memory, one process owns the whole batch and nothing needs the host MarketState (built-in policies
// and step hooks read it); gathered_host when there are several ranks; host_views otherwise.
EngineIO choose_engine_io(bool engine_device_resident, bool policies_in_engine_memory, int ranks,
                          bool needs_host_state);

// Under MPI (dist::Communicator::world() with K > 1 ranks) every rank simulates its contiguous block
// of the E environments; observations (and built-in policies' actions) are all-gathered each step, so
// every rank runs the same policy inference on the whole batch and returns the same full [E, ...]
// tensors, bit for bit those of a single process: the gradients computed from them need no reduction.
class RolloutCollector {
 public:
  // `scenario.market.envs` is the batch size E of every collect(). Policies on a CUDA device step the
  // CUDA backend when this build has one (zero-copy rollouts, see rollout.cpp); otherwise the CPU one.
  // `engine` picks the market backend: automatic follows the policies (CUDA policies step the CUDA
  // backend when present, CPU policies the CPU one); cpu or cuda force one (cuda must be available).
  RolloutCollector(const Scenario& scenario, torch::Device device, std::uint64_t seed, int threads = 0,
                   Device engine = Device::automatic);

  Trajectory collect(const RolloutRequest& request);
  int envs() const { return envs_; }
  int agents() const { return agents_; }
  int steps() const { return steps_; }
  // This rank's environments [first_env, first_env + local_envs) of the batch.
  int first_env() const { return first_env_; }
  int local_envs() const { return local_envs_; }
  // The scenario this rank simulates (its shard; the whole batch in a single process).
  const Scenario& scenario() const { return simulator_.scenario(); }
  // The engine backend stepping this rank's envs ("cpu" or "cuda").
  const char* engine_backend() const { return simulator_.backend_name(); }
  // How collect(request) exchanges data with the engine (see EngineIO).
  EngineIO engine_io(const RolloutRequest& request) const;

 private:
  // The CUDA backend's per-step buffers as CUDA tensors (zero copy; valid while the simulator lives).
  struct EngineTensors {
    torch::Tensor observation;  // [E,N,F] float32
    torch::Tensor multipliers;  // [E,N] float32, read by the next step
    torch::Tensor step_reward;  // [E,N] float64
    torch::Tensor step_cost;    // [E,N] float64
  };
  EngineTensors engine_tensors();

  RolloutCollector(const Scenario& scenario, int first_env, int local_envs, torch::Device device, std::uint64_t seed,
                   int threads, Device engine);

  Simulator simulator_;
  torch::Device device_;
  std::uint64_t seed_;
  int envs_, agents_, steps_;
  int first_env_ = 0, local_envs_ = 0;
};

// A copy of `scenario` with E environments and no deviations (the collector assigns policies itself).
Scenario with_envs(const Scenario& scenario, int envs);

// --- estimators -----------------------------------------------------------------------------------

// Σ_{t' ≥ t} r_{t'} along dim 1 of [E, T, ...].
torch::Tensor reward_to_go(const torch::Tensor& rewards);
// q minus the mean of the other environments' q (dim 0): a baseline independent of env e's own
// actions, so the estimator stays unbiased while most of the between-episode variance cancels.
torch::Tensor leave_one_out_advantage(const torch::Tensor& q);

// log π(u) of every row under `actor`, [E,T,N], with autograd (one batched forward).
torch::Tensor log_prob_all(const Actor& actor, const Trajectory& tr);
// log π(u) of the deviating agent's rows under `actor`, [E',T] for the envs in deviating_envs().
torch::Tensor log_prob_deviator(const Actor& actor, const Trajectory& tr);
// x[e, :, deviator[e]] for the deviating envs: [E', T] from [E,T,N].
torch::Tensor deviator_series(const torch::Tensor& x, const Trajectory& tr);
// [E,N] 1 everywhere except 0 at (e, deviator[e]).
torch::Tensor non_deviator_mask(const Trajectory& tr);

// Deviators for E envs drawn from the weights κ (systematic sampling with one uniform offset): each
// agent gets about E·κ_i envs, so Σ_i κ_i E_i[f] is estimated by the env mean with little variance.
std::vector<int> sample_deviators(const std::vector<double>& kappa, int envs, double offset);
// Agent (e / reps) in env e: every agent deviates in `reps` envs, in order.
std::vector<int> every_agent(int agents, int reps);

// Mean over environments e of x[e] for each agent: per-agent means [N] of [E,N] rows grouped by
// deviator (envs without a deviator are ignored).
std::vector<double> mean_by_deviator(const torch::Tensor& per_env, const Trajectory& tr, int agents);

std::vector<double> to_vector(const torch::Tensor& t);  // any shape, flattened, as double

// splitmix64 of (seed, key): independent generator seeds per batch, a pure function of the counters.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t key);
// A uniform number in [0, 1) keyed by (seed, key).
double uniform_of(std::uint64_t seed, std::uint64_t key);

}  // namespace bidsim::rl
