// Rollout collection over the batched Simulator and the policy-gradient estimators' building blocks.
// On the CPU the engine's SoA buffers are wrapped with from_blob and copied once per step into the
// preallocated [E,T,N,...] tensors (the engine overwrites them in the next step, so one copy is needed).
// With policies on a GPU and the CUDA backend, the engine's device buffers are wrapped the same way
// (DeviceTensorView + from_blob on the device): the multipliers are written straight into the engine's
// input buffer and nothing crosses PCIe during a rollout.
// Under MPI each rank steps its block of envs and the per-step data is all-gathered in env order.
#include "rl/rollout.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#include <cmath>
#include <stdexcept>

#include "engine/mpi/communicator.hpp"
#include "engine/core/errors.hpp"
#include "engine/core/market_state.hpp"
#include "engine/mpi/shard.hpp"

namespace bidsim::rl {

// splitmix64: every batch's noise is a pure function of the run seed and the batch counter, so a
// resumed run reproduces it from the counters alone (no generator state to save).
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t key) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (key + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double uniform_of(std::uint64_t seed, std::uint64_t key) {
  return double(mix_seed(seed ^ 0x5DEECE66Dull, key) >> 11) * 0x1.0p-53;
}

namespace {

constexpr double kMinLogMultiplier = -30.0;  // exp(-30): a bid of zero for every practical value
constexpr double kMaxLogMultiplier = 10.0;   // exp(10) ≈ 2.2e4 × value: a cap that keeps floats finite

}  // namespace

Scenario with_envs(const Scenario& scenario, int envs) {
  Scenario s = scenario;
  s.market.envs = envs;
  s.deviations.clear();
  return s;
}

torch::Tensor Trajectory::deviating_envs() const {
  return torch::nonzero(deviator >= 0).squeeze(1);
}

namespace {

// Policies on a GPU step the CUDA backend when this build has one and a device is present (`auto`);
// otherwise the CPU backend, and the collector copies each step's data to the policies' device.
Device engine_device_for(const torch::Device& policy_device) {
  return policy_device.is_cuda() ? Device::automatic : Device::cpu;
}

// Where a device-resident engine's buffers live, as LibTorch sees them: the GPU, or host memory when
// the backend says so (the CUDA backend on the host emulator), so the zero-copy path runs there with
// policies on the CPU.
torch::DeviceType engine_memory(const Simulator& simulator) {
  return simulator.device_memory_on_host() ? torch::kCPU : torch::kCUDA;
}

torch::ScalarType scalar_type_of(DType t) {
  switch (t) {
    case DType::float32: return torch::kFloat32;
    case DType::float64: return torch::kFloat64;
    case DType::int32: return torch::kInt32;
    case DType::int64: return torch::kInt64;
  }
  throw std::logic_error("scalar_type_of: unknown dtype");
}

dist::EnvBlock block_of_this_rank(const Scenario& scenario) {
  const dist::Communicator& comm = dist::Communicator::world();
  const int E = scenario.market.envs;
  if (comm.size() > E)
    throw UsageError("a rollout batch of " + std::to_string(E) + " environments for " + std::to_string(comm.size()) +
                     " MPI ranks, expected at least one environment per rank (launch at most " + std::to_string(E) +
                     " ranks, or raise the batch: market.envs, learning.dual_envs_per_agent, best_response.*envs*)");
  return dist::env_block(E, comm.rank(), comm.size());
}

}  // namespace

const char* engine_io_name(EngineIO io) {
  switch (io) {
    case EngineIO::host_views: return "host_views";
    case EngineIO::gathered_host: return "gathered_host";
    case EngineIO::device_buffers: return "device_buffers";
  }
  throw std::logic_error("engine_io_name: unknown EngineIO");
}

EngineIO choose_engine_io(bool engine_device_resident, bool policies_in_engine_memory, int ranks,
                          bool needs_host_state) {
  if (ranks > 1) return EngineIO::gathered_host;
  if (engine_device_resident && policies_in_engine_memory && !needs_host_state) return EngineIO::device_buffers;
  return EngineIO::host_views;
}

EngineIO RolloutCollector::engine_io(const RolloutRequest& rq) const {
  const bool needs_host_state = rq.builtin || rq.before_step || rq.after_step;
  return choose_engine_io(simulator_.device_resident(), device_.type() == engine_memory(simulator_),
                          dist::Communicator::world().size(), needs_host_state);
}

RolloutCollector::RolloutCollector(const Scenario& scenario, torch::Device device, std::uint64_t seed, int threads,
                                   Device engine)
    : RolloutCollector(scenario, block_of_this_rank(scenario).first, block_of_this_rank(scenario).count, device, seed,
                       threads, engine) {}

RolloutCollector::RolloutCollector(const Scenario& scenario, int first_env, int local_envs, torch::Device device,
                                   std::uint64_t seed, int threads, Device engine)
    : simulator_(local_envs == scenario.market.envs ? scenario : shard_scenario(scenario, first_env, local_envs),
                 engine == Device::automatic ? engine_device_for(device) : engine, threads),
      device_(device),
      seed_(seed),
      envs_(scenario.market.envs),
      agents_(scenario.agents.count),
      steps_(scenario.market.steps),
      first_env_(first_env),
      local_envs_(local_envs) {}

Trajectory RolloutCollector::collect(const RolloutRequest& rq) {
  torch::NoGradGuard no_grad;
  const int E = envs_, N = agents_, T = steps_, F = kObservationWidth;
  if (!rq.deviator.empty() && static_cast<int>(rq.deviator.size()) != E)
    throw std::invalid_argument("RolloutCollector::collect: deviator list has the wrong length");
  if (!rq.base && !rq.builtin) throw std::invalid_argument("RolloutCollector::collect: no base policy");

  const auto on_device = torch::TensorOptions().device(device_);
  const auto f32 = on_device.dtype(torch::kFloat32);
  Trajectory tr;
  tr.envs = E, tr.steps = T, tr.agents = N;
  tr.observation = torch::empty({E, T, N, F}, f32);
  tr.action = torch::empty({E, T, N}, f32);
  tr.base_mean = torch::empty({E, T, N}, f32);
  tr.reward = torch::empty({E, T, N}, f32);
  tr.cost = torch::empty({E, T, N}, f32);
  std::vector<std::int64_t> deviator(E, -1);
  for (int e = 0; e < static_cast<int>(rq.deviator.size()); ++e) {
    const int d = rq.deviator[e];
    if (d >= N) throw std::invalid_argument("RolloutCollector::collect: deviator out of range");
    deviator[e] = d;
  }
  tr.deviator = torch::tensor(deviator, torch::kInt64).to(device_);
  const torch::Tensor dev_envs = tr.deviating_envs();
  const bool any_deviation = dev_envs.numel() > 0;
  if (any_deviation && !rq.deviation) throw std::invalid_argument("RolloutCollector::collect: no deviation policy");
  const torch::Tensor dev_agents = any_deviation ? tr.deviator.index_select(0, dev_envs) : torch::Tensor();
  const torch::Tensor dev_rows = any_deviation ? dev_envs * N + dev_agents : torch::Tensor();  // rows of [E*N]

  // Exploration noise of the whole batch, drawn at once from a generator keyed by (seed, noise_key).
  at::Generator gen = at::detail::createCPUGenerator(mix_seed(seed_, rq.noise_key));
  const torch::Tensor noise = torch::randn({T, E * N}, gen, torch::kFloat32).to(device_);
  const torch::Tensor dev_noise =
      any_deviation ? torch::randn({T, dev_envs.size(0)}, gen, torch::kFloat32).to(device_) : torch::Tensor();
  const torch::Tensor all_agents = torch::arange(N, on_device.dtype(torch::kInt64)).repeat({E});  // [E*N]

  // This rank's block: rows [first_env_·N, (first_env_ + local_envs_)·N) of every [E·N] array.
  const dist::Communicator& comm = dist::Communicator::world();
  const EngineIO io = engine_io(rq);
  const bool sharded = io == EngineIO::gathered_host;
  const bool zero_copy = io == EngineIO::device_buffers;
  const int El = local_envs_;
  const std::size_t local_rows = static_cast<std::size_t>(El) * N, first_row = static_cast<std::size_t>(first_env_) * N;
  const dist::BlockLayout obs_layout = dist::block_layout(E, comm.size(), static_cast<std::int64_t>(N) * F);
  const dist::BlockLayout row_layout = dist::block_layout(E, comm.size(), N);
  std::vector<float> gathered_obs(sharded ? static_cast<std::size_t>(E) * N * F : 0);
  std::vector<double> gathered_money(sharded ? static_cast<std::size_t>(E) * N : 0);
  // The whole batch's observations on this device: this rank's engine state, or the gathered blocks.
  auto whole_observation = [&](const MarketState& st) {
    if (!sharded) return torch::from_blob(const_cast<float*>(st.observation.data()), {E, N, F}, torch::kFloat32);
    comm.all_gather_into(st.observation.data(), gathered_obs.data(), obs_layout);
    return torch::from_blob(gathered_obs.data(), {E, N, F}, torch::kFloat32);
  };
  auto whole_money = [&](const std::vector<double>& local) {
    if (!sharded) return torch::from_blob(const_cast<double*>(local.data()), {E, N}, torch::kFloat64);
    comm.all_gather_into(local.data(), gathered_money.data(), row_layout);
    return torch::from_blob(gathered_money.data(), {E, N}, torch::kFloat64);
  };

  simulator_.reset(rq.episode);
  EngineTensors engine;
  if (zero_copy) {
    engine = engine_tensors();
    simulator_.synchronize();  // the reset's observations are on the engine's stream
  }
  // The whole batch's [E,N,F] observations: the engine's device buffer, or the host state (gathered).
  auto observe = [&]() { return zero_copy ? engine.observation : whole_observation(simulator_.state()); };

  std::vector<float> builtin_local(sharded ? local_rows : 0), builtin_multipliers(static_cast<std::size_t>(E) * N);
  if (rq.builtin) rq.builtin->reset();
  tr.initial_observation = observe().to(device_).clone();
  const torch::Tensor obs0_rows = tr.initial_observation.reshape({E * N, F});

  for (int t = 0; t < T; ++t) {
    if (rq.before_step) rq.before_step(simulator_.state());
    tr.observation.select(1, t).copy_(observe());
    const torch::Tensor obs_rows = tr.observation.select(1, t).reshape({E * N, F});

    torch::Tensor base_mean, u;
    if (rq.builtin) {
      // Built-in policies act on this rank's envs (their controller state is per env); gather the rest.
      rq.builtin->act(simulator_.state(), sharded ? builtin_local.data() : builtin_multipliers.data());
      if (sharded) comm.all_gather_into(builtin_local.data(), builtin_multipliers.data(), row_layout);
      base_mean = torch::from_blob(builtin_multipliers.data(), {E * N}, torch::kFloat32)
                      .to(device_)
                      .clamp_min(std::exp(kMinLogMultiplier))
                      .log();
      u = base_mean.clone();
    } else {
      const ActionDistribution d = rq.base({obs_rows, obs0_rows, all_agents, torch::Tensor()});
      base_mean = d.mean.reshape({E * N});
      u = rq.deterministic_base ? base_mean.clone()
                                : base_mean + torch::exp(d.log_std.reshape({E * N})) * noise[t];
    }
    if (any_deviation) {
      const torch::Tensor dev_mean_base = base_mean.index_select(0, dev_rows);
      const ActionDistribution d = rq.deviation({obs_rows.index_select(0, dev_rows), obs0_rows.index_select(0, dev_rows),
                                                 dev_agents, dev_mean_base});
      const torch::Tensor du = rq.deterministic_deviation ? d.mean : d.mean + torch::exp(d.log_std) * dev_noise[t];
      u.index_copy_(0, dev_rows, du.reshape({-1}));
    }
    tr.base_mean.select(1, t).copy_(base_mean.reshape({E, N}));
    tr.action.select(1, t).copy_(u.reshape({E, N}));

    const torch::Tensor multipliers = torch::exp(u.clamp(kMinLogMultiplier, kMaxLogMultiplier));
    if (zero_copy) {
      engine.multipliers.copy_(multipliers.reshape({E, N}));
      // LibTorch and the engine run on different streams: LibTorch's writes must land before the
      // engine's kernels read them, and the engine's outputs before LibTorch reads them.
      if (engine.multipliers.is_cuda()) torch::cuda::synchronize(engine.multipliers.device().index());
      simulator_.step_on_device();
      simulator_.synchronize();
      tr.reward.select(1, t).copy_(engine.step_reward);
      tr.cost.select(1, t).copy_(engine.step_cost);
    } else {
      const torch::Tensor host_multipliers = multipliers.to(torch::kCPU, torch::kFloat32).contiguous();
      simulator_.step(host_multipliers.data_ptr<float>() + first_row);
      const MarketState& st = simulator_.state();
      if (rq.after_step) rq.after_step(st);
      tr.reward.select(1, t).copy_(whole_money(st.step_reward));
      tr.cost.select(1, t).copy_(whole_money(st.step_cost));
    }
  }
  return tr;
}

RolloutCollector::EngineTensors RolloutCollector::engine_tensors() {
  auto wrap = [&](MarketTensor which) {
    const DeviceTensorView v = simulator_.device_tensor(which);
    const torch::TensorOptions options = torch::TensorOptions().dtype(scalar_type_of(v.dtype));
    if (engine_memory(simulator_) == torch::kCPU) return torch::from_blob(v.data, v.shape, options.device(torch::kCPU));
    if (device_.has_index() && v.device != device_.index())
      throw std::logic_error("RolloutCollector: the engine runs on GPU " + std::to_string(v.device) +
                             " but the policies on " + device_.str());
    return torch::from_blob(v.data, v.shape, options.device(torch::kCUDA, v.device));
  };
  EngineTensors t;
  t.observation = wrap(MarketTensor::observations);
  t.multipliers = wrap(MarketTensor::multipliers);
  t.step_reward = wrap(MarketTensor::step_reward);
  t.step_cost = wrap(MarketTensor::step_cost);
  return t;
}

torch::Tensor reward_to_go(const torch::Tensor& rewards) {
  return torch::flip(torch::cumsum(torch::flip(rewards, {1}), 1), {1});
}

torch::Tensor leave_one_out_advantage(const torch::Tensor& q) {
  const auto E = q.size(0);
  if (E < 2) return q;
  return q - (q.sum(0, true) - q) / double(E - 1);
}

torch::Tensor log_prob_all(const Actor& actor, const Trajectory& tr) {
  const int E = tr.envs, T = tr.steps, N = tr.agents;
  const auto F = tr.observation.size(3);
  const torch::Tensor obs = tr.observation.reshape({-1, F});
  const torch::Tensor obs0 = tr.initial_observation.unsqueeze(1).expand({E, T, N, F}).reshape({-1, F});
  const torch::Tensor agent =
      torch::arange(N, tr.observation.options().dtype(torch::kInt64)).repeat({E * T});
  const ActionDistribution d = actor({obs, obs0, agent, tr.base_mean.reshape({-1})});
  return gaussian_log_prob(tr.action.reshape({-1}), d).reshape({E, T, N});
}

torch::Tensor deviator_series(const torch::Tensor& x, const Trajectory& tr) {
  const torch::Tensor envs = tr.deviating_envs();
  const torch::Tensor agents = tr.deviator.index_select(0, envs);
  const torch::Tensor rows = x.index_select(0, envs);  // [E',T,N,...]
  const auto T = x.size(1);
  return rows.gather(2, agents.view({-1, 1, 1}).expand({agents.size(0), T, 1})).squeeze(2);
}

torch::Tensor log_prob_deviator(const Actor& actor, const Trajectory& tr) {
  const torch::Tensor envs = tr.deviating_envs();
  const torch::Tensor agents = tr.deviator.index_select(0, envs);
  const auto Ed = envs.size(0);
  const int T = tr.steps, N = tr.agents;
  const auto F = tr.observation.size(3);
  // Row (e', t) of the flattened [E,T,N] layout: (env·T + t)·N + agent.
  const torch::Tensor t_index = torch::arange(T, envs.options()).view({1, T});
  const torch::Tensor rows = ((envs.view({-1, 1}) * T + t_index) * N + agents.view({-1, 1})).reshape({-1});
  const torch::Tensor obs = tr.observation.reshape({-1, F}).index_select(0, rows);
  const torch::Tensor obs0 =
      tr.initial_observation.reshape({-1, F}).index_select(0, (envs * N + agents)).repeat_interleave(T, 0);
  const ActionDistribution d = actor({obs, obs0, agents.repeat_interleave(T), tr.base_mean.reshape({-1}).index_select(0, rows)});
  return gaussian_log_prob(tr.action.reshape({-1}).index_select(0, rows), d).reshape({Ed, T});
}

torch::Tensor non_deviator_mask(const Trajectory& tr) {
  torch::Tensor mask = torch::ones({tr.envs, tr.agents}, tr.reward.options());
  const torch::Tensor envs = tr.deviating_envs();
  if (envs.numel() > 0)
    mask.index_put_({envs, tr.deviator.index_select(0, envs)}, torch::zeros({envs.size(0)}, mask.options()));
  return mask;
}

std::vector<int> sample_deviators(const std::vector<double>& kappa, int envs, double offset) {
  double total = 0;
  for (double k : kappa) total += k;
  if (!(total > 0)) throw std::invalid_argument("sample_deviators: the sample ratios sum to zero");
  std::vector<int> out(envs);
  double cumulative = 0;
  int agent = 0;
  const int n = static_cast<int>(kappa.size());
  for (int e = 0; e < envs; ++e) {
    const double point = (e + offset) / envs * total;
    while (agent < n - 1 && cumulative + kappa[agent] <= point) cumulative += kappa[agent++];
    out[e] = agent;
  }
  return out;
}

std::vector<int> every_agent(int agents, int reps) {
  std::vector<int> out(static_cast<std::size_t>(agents) * reps);
  for (std::size_t e = 0; e < out.size(); ++e) out[e] = static_cast<int>(e / reps);
  return out;
}

std::vector<double> mean_by_deviator(const torch::Tensor& per_env, const Trajectory& tr, int agents) {
  std::vector<double> sum(agents, 0.0), count(agents, 0.0);
  const std::vector<double> x = to_vector(per_env);
  const std::vector<double> d = to_vector(tr.deviator);
  for (std::size_t e = 0; e < d.size(); ++e)
    if (d[e] >= 0) { sum[int(d[e])] += x[e]; count[int(d[e])] += 1; }
  for (int i = 0; i < agents; ++i) sum[i] = count[i] > 0 ? sum[i] / count[i] : 0.0;
  return sum;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous().reshape({-1});
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace bidsim::rl
