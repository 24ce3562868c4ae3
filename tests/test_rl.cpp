// Tests of rl/: every Table-4 gradient term against its exact value on a market whose returns have a
// closed form, the dual / κ / λ̄ = 0 rules of Algorithm 1, exploitability of known policies, checkpoints.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <tuple>

#include "engine/core/errors.hpp"
#include "engine/core/market_state.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "rl/evaluate.hpp"
#include "rl/learning_config.hpp"
#include "rl/rollout.hpp"
#include "rl/trainer.hpp"
#include "test_support.hpp"

// LibTorch brings glog's CHECK macro; Catch2's must win, so it is included last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace bidsim;
using namespace bidsim::rl;

namespace {

// Two agents, one step, one impression, single-slot second price, values fixed at value_scale
// (lognormal with σ = 0 is exactly 1), no budgets: agent i wins iff u_i + ln v_i > u_j + ln v_j.
constexpr double kValue1 = 2.0, kValue2 = 1.0;
Scenario closed_form_market(int envs) {
  return parse_scenario(
      "market: {envs: " + std::to_string(envs) + ", steps: 1}\n"
      "agents: {count: 2, budget: .inf, value_scale: [2.0, 1.0]}\n"
      "impressions: {per_step: 1}\n"
      "values: {model: procedural, distribution: lognormal, sigma: 0.0}\n"
      "mechanism: {type: second_price}\n"
      "reward: value\n",
      "closed-form");
}

// A policy with random (not initial) weights, so every parameter has a non-trivial gradient.
BidPolicy random_policy(bool sees_initial_state, double log_std, std::uint64_t seed) {
  torch::manual_seed(seed);
  PolicyOptions o;
  o.hidden = 8;
  o.sees_initial_state = sees_initial_state;
  o.initial_log_std = log_std;
  BidPolicy p(o);
  torch::NoGradGuard no_grad;
  for (auto& t : p->parameters()) t.add_(torch::randn_like(t) * 0.3);
  return p;
}

// Mean log multiplier of each agent at its initial observation: [2], differentiable.
torch::Tensor initial_means(BidPolicy p, const Trajectory& tr) {
  const torch::Tensor obs = tr.initial_observation[0];  // [N,F]: the same in every env of this market
  return p->forward({obs, obs, torch::arange(2), torch::Tensor()}).mean;
}
torch::Tensor policy_std(BidPolicy p, const Trajectory& tr) {
  const torch::Tensor obs = tr.initial_observation[0];
  return torch::exp(p->forward({obs, obs, torch::arange(2), torch::Tensor()}).log_std[0]);
}

torch::Tensor normal_cdf(const torch::Tensor& x) { return 0.5 * torch::erfc(-x / std::sqrt(2.0)); }

// G_i when agent i acts with (mean_i, σ_i) and the other with (mean_j, σ_j): v_i Φ((m_i - m_j + ln v_i/v_j)/√(σ_i²+σ_j²)).
torch::Tensor closed_form_return(int i, const torch::Tensor& mean_i, const torch::Tensor& std_i,
                                 const torch::Tensor& mean_j, const torch::Tensor& std_j) {
  const double vi = i == 0 ? kValue1 : kValue2, vj = i == 0 ? kValue2 : kValue1;
  return vi * normal_cdf((mean_i - mean_j + std::log(vi / vj)) / torch::sqrt(std_i * std_i + std_j * std_j));
}

Gradient exact_gradient(const torch::Tensor& objective, BidPolicy p) {
  return torch::autograd::grad({objective}, p->parameters(), {}, true, false, true);
}

// ‖estimate - exact‖ relative to ‖exact‖.
double relative_error(const Gradient& estimate, const Gradient& exact) {
  double diff = 0, norm = 0;
  for (std::size_t k = 0; k < exact.size(); ++k) {
    const torch::Tensor e = exact[k].defined() ? exact[k] : torch::zeros_like(estimate[k]);
    diff += (estimate[k] - e).pow(2).sum().item<double>();
    norm += e.pow(2).sum().item<double>();
  }
  return std::sqrt(diff / norm);
}

constexpr int kEnvs = 40000;  // Monte Carlo batch: standard error ≈ 2% of the gradient norm
constexpr double kTolerance = 0.08;

Trajectory rollout(RolloutCollector& c, BidPolicy base, BidPolicy deviation, const std::vector<int>& deviators,
                   std::uint64_t key) {
  RolloutRequest rq;
  rq.base = actor_of(base);
  if (deviation) rq.deviation = actor_of(deviation);
  rq.deviator = deviators;
  rq.episode = key;
  rq.noise_key = key;
  return c.collect(rq);
}

}  // namespace

TEST_CASE("collector returns [E,T,N,...] tensors matching the engine and is deterministic", "[rl][rollout]") {
  const Scenario s = parse_scenario(
      "market: {envs: 3, steps: 4}\nagents: {count: 5, budget: 50}\nimpressions: {per_step: 30}\n", "small");
  RolloutCollector a(s, torch::kCPU, 11), b(s, torch::kCPU, 11);
  const BidPolicy theta = random_policy(false, -1.0, 3);
  const Trajectory t1 = rollout(a, theta, nullptr, {}, 0), t2 = rollout(b, theta, nullptr, {}, 0);
  CHECK(t1.observation.sizes() == torch::IntArrayRef({3, 4, 5, kObservationWidth}));
  CHECK(t1.action.sizes() == torch::IntArrayRef({3, 4, 5}));
  CHECK(t1.reward.sizes() == torch::IntArrayRef({3, 4, 5}));
  CHECK(torch::equal(t1.action, t2.action));
  CHECK(torch::equal(t1.reward, t2.reward));
  CHECK(t1.reward.sum().item<double>() > 0);
  const Trajectory t3 = rollout(a, theta, nullptr, {}, 1);
  CHECK_FALSE(torch::equal(t1.action, t3.action));  // another noise key, other actions
  // Returns equal the engine's own episode totals G_i.
  const MarketState& st = [&]() -> const MarketState& {
    static Simulator sim(s, Device::cpu);
    sim.reset(1);
    const torch::Tensor m = torch::exp(t3.action.clamp(-30, 10)).contiguous();
    for (int t = 0; t < 4; ++t) {
      const torch::Tensor step = m.select(1, t).contiguous();
      sim.step(step.data_ptr<float>());
    }
    return sim.state();
  }();
  const std::vector<double> g = to_vector(t3.returns());
  for (std::size_t k = 0; k < g.size(); ++k) CHECK(g[k] == Approx(st.reward[k]).epsilon(1e-5));
}

TEST_CASE("collector engine choice: CPU policies step the CPU backend; a forced cuda engine needs a GPU",
          "[rl][rollout]") {
  const Scenario s = parse_scenario("market: {envs: 2, steps: 2}\nagents: {count: 3}\nimpressions: {per_step: 5}\n", "tiny");
  CHECK(std::string(RolloutCollector(s, torch::kCPU, 1).engine_backend()) == "cpu");
  CHECK(std::string(RolloutCollector(s, torch::kCPU, 1, 0, Device::cpu).engine_backend()) == "cpu");
  if (!cuda_backend_built() || !cuda_device_present())
    CHECK_THROWS_AS(RolloutCollector(s, torch::kCPU, 1, 0, Device::cuda), UsageError);
}

TEST_CASE("engine I/O: one rule picks host views, gathered host arrays or the device buffers", "[rl][rollout]") {
  // choose_engine_io(engine_device_resident, policies_in_engine_memory, ranks, needs_host_state)
  CHECK(choose_engine_io(false, false, 1, false) == EngineIO::host_views);
  CHECK(choose_engine_io(false, true, 1, false) == EngineIO::host_views);    // CPU backend: nothing to share
  CHECK(choose_engine_io(true, false, 1, false) == EngineIO::host_views);    // policies elsewhere: copies
  CHECK(choose_engine_io(true, true, 1, true) == EngineIO::host_views);      // built-ins/hooks read MarketState
  CHECK(choose_engine_io(true, true, 1, false) == EngineIO::device_buffers);
  CHECK(choose_engine_io(true, true, 4, false) == EngineIO::gathered_host);  // ranks always gather
  CHECK(choose_engine_io(false, false, 2, true) == EngineIO::gathered_host);
  CHECK(std::string(engine_io_name(EngineIO::device_buffers)) == "device_buffers");
  // A single-process CPU collector with CPU policies views the host state, hooks or not.
  const Scenario s = parse_scenario("market: {envs: 2, steps: 2}\nagents: {count: 3}\nimpressions: {per_step: 5}\n", "tiny");
  RolloutCollector c(s, torch::kCPU, 1, 0, Device::cpu);
  RolloutRequest rq;
  CHECK(c.engine_io(rq) == EngineIO::host_views);
  rq.after_step = [](const MarketState&) {};
  CHECK(c.engine_io(rq) == EngineIO::host_views);
}

// The zero-copy path (policies and engine on one GPU, device buffers wrapped with from_blob) against
// the host path (the same GPU policies stepping the CPU backend through host copies). The two engines
// are bit-identical (test_cuda.cpp) and the policies see the same inputs, so every tensor must match
// bit for bit; a second zero-copy run must repeat the first.
TEST_CASE("GPU rollouts: the zero-copy CUDA engine equals the CPU engine under the same GPU policies",
          "[rl][rollout][cuda]") {
#ifdef BIDSIM_CUDA_EMULATION
  // On the host emulator (cuda/emulation/) the engine's "device" buffers are host memory: the same
  // zero-copy path runs with the policies on the CPU and the engine forced to the CUDA backend.
  const torch::Device gpu(torch::kCPU);
  const Device zero_copy_engine = Device::cuda;
#else
  if (!torch::cuda::is_available() || !cuda_device_present()) {
    WARN("no CUDA device for both LibTorch and the engine: skipped");
    return;
  }
  const torch::Device gpu(torch::kCUDA, 0);
  const Device zero_copy_engine = Device::automatic;
#endif
  const Scenario budgeted = parse_scenario(
      "market: {envs: 6, steps: 5}\nagents: {count: 7, budget: 20}\nimpressions: {per_step: 120}\n", "budgeted");
  const Scenario bpg10 = with_envs(load_scenario(std::string(BIDSIM_SOURCE_DIR) + "/scenarios/bpg-10.yaml"), 8);
  for (const Scenario* s : {&budgeted, &bpg10}) {
    INFO(s->name);
    RolloutCollector zero_copy(*s, gpu, 11, 0, zero_copy_engine), host_engine(*s, gpu, 11, 0, Device::cpu);
    REQUIRE(std::string(zero_copy.engine_backend()) == "cuda");
    REQUIRE(std::string(host_engine.engine_backend()) == "cpu");
    BidPolicy theta = random_policy(false, -1.0, 3), deviation = random_policy(true, -1.5, 4);
    theta->to(gpu);
    deviation->to(gpu);
    std::vector<int> deviators(s->market.envs, -1);
    for (int e = 1; e < s->market.envs; e += 2) deviators[e] = e % s->agents.count;
    const Trajectory a = rollout(zero_copy, theta, deviation, deviators, 2);
    const Trajectory b = rollout(host_engine, theta, deviation, deviators, 2);
    const Trajectory again = rollout(zero_copy, theta, deviation, deviators, 2);
    CHECK(a.observation.device() == gpu);
    for (const auto& [name, x, y, z] :
         {std::tuple{"observation", a.observation, b.observation, again.observation},
          std::tuple{"initial_observation", a.initial_observation, b.initial_observation, again.initial_observation},
          std::tuple{"action", a.action, b.action, again.action},
          std::tuple{"base_mean", a.base_mean, b.base_mean, again.base_mean},
          std::tuple{"reward", a.reward, b.reward, again.reward},
          std::tuple{"cost", a.cost, b.cost, again.cost}}) {
      INFO(name);
      CHECK(torch::equal(x, y));
      CHECK(torch::equal(x, z));
    }
    CHECK(a.reward.sum().item<double>() > 0);
  }
}

TEST_CASE("reward-to-go and the leave-one-out baseline", "[rl][estimators]") {
  const torch::Tensor r = torch::tensor({1.0, 2.0, 3.0}).view({1, 3});
  CHECK(torch::allclose(reward_to_go(r), torch::tensor({6.0, 5.0, 3.0}).view({1, 3})));
  const torch::Tensor q = torch::tensor({1.0, 2.0, 6.0});
  CHECK(torch::allclose(leave_one_out_advantage(q), torch::tensor({1.0 - 4.0, 2.0 - 3.5, 6.0 - 1.5})));
}

TEST_CASE("each Table-4 gradient term matches its closed form", "[rl][gradients]") {
  RolloutCollector collector(closed_form_market(kEnvs), torch::kCPU, 5);
  const BidPolicy theta = random_policy(false, std::log(0.5), 1);
  const BidPolicy nu = random_policy(true, std::log(0.6), 2);
  // (1+λ_i) v_i must differ between the agents, or the weighted welfare of L1 is constant.
  const std::vector<double> lambda = {1.0, 0.5};
  const double lambda_bar = 1.5;
  const std::vector<double> kappa = sample_ratios(lambda);

  SECTION("L1, the cooperative gradient (eq. 33)") {
    const Trajectory tr = rollout(collector, theta, nullptr, {}, 0);
    const torch::Tensor m = initial_means(theta, tr), sd = policy_std(theta, tr);
    const torch::Tensor objective = (1 + lambda[0]) * closed_form_return(0, m[0], sd, m[1], sd) +
                                    (1 + lambda[1]) * closed_form_return(1, m[1], sd, m[0], sd);
    const Gradient est = cooperative_gradient(theta, tr, lambda), ex = exact_gradient(objective, theta);
    CHECK(relative_error(est, ex) < kTolerance);
  }
  SECTION("independent: each agent's return through its own action only") {
    const Trajectory tr = rollout(collector, theta, nullptr, {}, 1);
    const torch::Tensor m = initial_means(theta, tr), sd = policy_std(theta, tr);
    const torch::Tensor objective = closed_form_return(0, m[0], sd, m[1].detach(), sd.detach()) +
                                    closed_form_return(1, m[1], sd, m[0].detach(), sd.detach());
    CHECK(relative_error(independent_gradient(theta, tr), exact_gradient(objective, theta)) < kTolerance);
  }
  SECTION("L_s and L'_g with ν̄ deviating in the weighted POMDP (eq. 12)") {
    const Trajectory tr = rollout(collector, theta, nu, sample_deviators(kappa, kEnvs, 0.5), 2);
    const torch::Tensor m = initial_means(theta, tr), sd = policy_std(theta, tr);
    const torch::Tensor n = initial_means(nu, tr), sn = policy_std(nu, tr);
    const torch::Tensor objective = lambda[0] * closed_form_return(0, n[0], sn, m[1], sd) +
                                    lambda[1] * closed_form_return(1, n[1], sn, m[0], sd);
    const CompetitiveGradients c = competitive_gradients(theta, nu, tr, lambda_bar);
    CHECK(relative_error(c.ls, exact_gradient(objective, theta)) < kTolerance);
    CHECK(relative_error(c.lg, exact_gradient(objective, nu)) < kTolerance);
  }
  SECTION("L*_w and the unified-solution gradient in the weighted POMDP") {
    const BidPolicy x = nu;
    const Trajectory tr = rollout(collector, theta, x, sample_deviators(kappa, kEnvs, 0.5), 3);
    const torch::Tensor m = initial_means(theta, tr), sd = policy_std(theta, tr);
    const torch::Tensor n = initial_means(x, tr), sn = policy_std(x, tr);
    // G_w(x; θ) = Σ_i κ_i G_i(x; θ) (eq. 37)
    const torch::Tensor objective = kappa[0] * closed_form_return(0, n[0], sn, m[1], sd) +
                                    kappa[1] * closed_form_return(1, n[1], sn, m[0], sd);
    CHECK(relative_error(weighted_pomdp_gradient(theta, x, tr), exact_gradient(objective, theta)) < kTolerance);
    CHECK(relative_error(unified_solution_gradient(x, tr), exact_gradient(objective, x)) < kTolerance);
  }
}

TEST_CASE("dual update (13), sample ratios and the primal direction (11)", "[rl][bpg]") {
  CHECK(dual_update({5.0, 1.0, 3.0}, {2.0, 2.0, 2.5}, 1.0) == std::vector<double>{2.0, 0.0, 0.0});
  CHECK(sample_ratios({0.0, 1.0, 3.0}) == std::vector<double>{0.0, 0.25, 0.75});
  CHECK(sample_ratios({0.0, 0.0}).empty());

  const std::vector<int> d = sample_deviators({0.0, 0.25, 0.75}, 100, 0.5);
  CHECK(std::count(d.begin(), d.end(), 0) == 0);
  CHECK(std::count(d.begin(), d.end(), 1) == 25);
  CHECK(std::count(d.begin(), d.end(), 2) == 75);

  const Gradient l1{torch::tensor({1.0})}, ls{torch::tensor({2.0})}, lg{torch::tensor({3.0})}, lw{torch::tensor({4.0})};
  const PrimalStep step = primal_direction(l1, ls, lg, lw, /*xi=*/1.0, /*lambda_bar=*/2.0);
  CHECK(step.delta_theta[0].item<double>() == Approx(1.0 * 4.0 + (1 - 0.5) * 2.0 - 1.0));
  CHECK(step.delta_nu[0].item<double>() == Approx((1 - 0.5) * 3.0));

  SECTION("λ̄ = 0 degenerates to Δθ = -L1, Δν̄ = 0 (eq. 41)") {
    const PrimalStep zero = primal_direction(l1, {}, {}, {}, 1.0, 0.0);
    CHECK(zero.delta_theta[0].item<double>() == -1.0);
    CHECK(zero.delta_nu.empty());
  }
}

namespace {

Scenario small_market() {
  return parse_scenario(
      "seed: 3\nmarket: {envs: 8, steps: 3}\nagents: {count: 3, budget: [20, 30, 40], value_scale: [1, 1.5, 2]}\n"
      "impressions: {per_step: 20}\nmechanism: {type: second_price}\n",
      "small");
}

LearningConfig small_config(Algorithm a, double epsilon) {
  LearningConfig c;
  c.algorithm = a;
  c.epsilon = epsilon;
  c.hidden = 8;
  c.unified_solution_steps = 1;
  return c;
}

std::vector<torch::Tensor> all_parameters(const Trainer& t) {
  std::vector<torch::Tensor> out;
  for (BidPolicy p : {t.policy(), t.unified_optimizer(), t.unified_solution()})
    for (const auto& x : p->parameters()) out.push_back(x.detach().clone());
  return out;
}

}  // namespace

TEST_CASE("BPG iteration: λ̄ = 0 leaves ν̄ and κ alone; λ̄ > 0 sets κ = λ/λ̄", "[rl][bpg]") {
  SECTION("a loose ε satisfies every constraint: λ̄ = 0") {
    Trainer t(small_market(), small_config(Algorithm::bpg, /*epsilon=*/10.0), torch::kCPU, 1);
    const auto before = all_parameters(t);
    const IterationRecord r = t.iterate();
    const auto after = all_parameters(t);
    CHECK(r.lambda_bar == 0.0);
    CHECK(r.norm_ls == 0.0);
    CHECK(r.norm_lw == 0.0);
    CHECK(r.norm_l1 > 0.0);
    CHECK(t.kappa() == std::vector<double>(3, 1.0 / 3));
    const std::size_t theta_count = t.policy()->parameters().size(), nu_count = t.unified_optimizer()->parameters().size();
    bool theta_moved = false, nu_moved = false;
    for (std::size_t k = 0; k < theta_count; ++k) theta_moved |= !torch::equal(before[k], after[k]);
    for (std::size_t k = theta_count; k < theta_count + nu_count; ++k) nu_moved |= !torch::equal(before[k], after[k]);
    CHECK(theta_moved);
    CHECK_FALSE(nu_moved);
  }
  SECTION("ε = 0 with a learned x*: some λ_i > 0 and κ follows λ") {
    LearningConfig c = small_config(Algorithm::bpg, 0.0);
    c.initial_multiplier = 0.3;  // θ starts far below what pays: x* finds unilateral gains quickly
    c.unified_solution_steps = 3;
    c.lr_unified_solution = 0.1;
    Trainer t(small_market(), c, torch::kCPU, 2);
    const IterationRecord r = t.iterate();
    REQUIRE(r.lambda_bar > 0.0);
    CHECK(r.norm_ls > 0.0);
    CHECK(r.norm_lg > 0.0);
    CHECK(r.norm_lw > 0.0);
    for (std::size_t i = 0; i < 3; ++i) CHECK(t.kappa()[i] == Approx(t.lambda()[i] / r.lambda_bar));
  }
}

// What lets the Table-1 sweep record instead of rerun the unconstrained rows (tools/table1_same_run.py): with
// λ̄ = 0 in every iteration, bpg and bpg_zero take the same step (−L1 on the same draws) and ε enters only
// through λ_i = [gain_i − ε]_+, which stays 0 for any larger ε along the same trajectory. So one unconstrained
// run stands for both algorithms at every ε at or above its own.
TEST_CASE("an unconstrained run is the same run for bpg and bpg_zero at every larger ε", "[rl][bpg]") {
  Trainer reference(small_market(), small_config(Algorithm::bpg_zero, /*epsilon=*/10.0), torch::kCPU, 3);
  Trainer bpg_looser(small_market(), small_config(Algorithm::bpg, /*epsilon=*/20.0), torch::kCPU, 3);
  Trainer zero_looser(small_market(), small_config(Algorithm::bpg_zero, /*epsilon=*/40.0), torch::kCPU, 3);
  for (int k = 0; k < 3; ++k) {
    const IterationRecord r = reference.iterate();
    REQUIRE(r.lambda_bar == 0.0);
    for (Trainer* other : {&bpg_looser, &zero_looser}) {
      const IterationRecord o = other->iterate();
      CHECK(o.lambda_bar == 0.0);
      CHECK(o.social_welfare == r.social_welfare);
      CHECK(o.revenue == r.revenue);
      CHECK(o.unified_gain_mean == r.unified_gain_mean);
    }
  }
  const auto expected = all_parameters(reference);
  for (Trainer* other : {&bpg_looser, &zero_looser}) {
    const auto got = all_parameters(*other);
    REQUIRE(got.size() == expected.size());
    for (std::size_t k = 0; k < got.size(); ++k) CHECK(torch::equal(got[k], expected[k]));
  }
  // A binding ε is a different run: the guard is not vacuous.
  LearningConfig binding = small_config(Algorithm::bpg_zero, 0.0);
  binding.initial_multiplier = 0.3;
  binding.unified_solution_steps = 3;
  binding.lr_unified_solution = 0.1;
  Trainer constrained(small_market(), binding, torch::kCPU, 3);
  LearningConfig loose = binding;
  loose.epsilon = 10.0;
  Trainer unconstrained(small_market(), loose, torch::kCPU, 3);
  REQUIRE(constrained.iterate().lambda_bar > 0.0);
  REQUIRE(unconstrained.iterate().lambda_bar == 0.0);
  const auto a = all_parameters(constrained), b = all_parameters(unconstrained);
  bool differ = false;
  for (std::size_t k = 0; k < a.size(); ++k) differ |= !torch::equal(a[k], b[k]);
  CHECK(differ);
}
TEST_CASE("a capped dual batch measures a rotating block of agents and keeps the others' λ", "[rl][bpg]") {
  LearningConfig c = small_config(Algorithm::bpg, 0.0);
  c.initial_multiplier = 0.3;  // as above: x* gains quickly, so measured λ_i are positive
  c.unified_solution_steps = 3;
  c.lr_unified_solution = 0.1;
  c.dual_envs_per_agent = 1;
  c.dual_max_envs = 2;  // 3 agents, 2 per iteration: agents {0, 1}, then {2, 0}, then {1, 2}
  Trainer t(small_market(), c, torch::kCPU, 2);
  t.iterate();
  const std::vector<double> first = t.lambda();
  CHECK(first[2] == 0.0);  // never measured yet
  REQUIRE(first[0] + first[1] > 0.0);
  t.iterate();
  const std::vector<double> second = t.lambda();
  CHECK(second[1] == first[1]);  // not in the block {2, 0}: kept
  t.iterate();
  CHECK(t.lambda()[0] == second[0]);  // not in the block {1, 2}: kept
  CHECK_THROWS_AS(parse_learning_config("learning: {dual_envs_per_agent: 4, dual_max_envs: 2}\n", "x.yaml", {}),
                  ScenarioError);
}

TEST_CASE("checkpoint resume equals an uninterrupted run", "[rl][checkpoint]") {
  bidsim_test::TempDir dir;
  for (Algorithm a : {Algorithm::bpg, Algorithm::independent}) {
    const LearningConfig c = small_config(a, 0.0);
    Trainer straight(small_market(), c, torch::kCPU, 9);
    for (int k = 0; k < 4; ++k) straight.iterate();

    Trainer first(small_market(), c, torch::kCPU, 9);
    first.iterate();
    first.iterate();
    first.save(dir.file("ckpt.pt"));
    Trainer resumed(small_market(), c, torch::kCPU, 9);
    resumed.load(dir.file("ckpt.pt"));
    CHECK(resumed.iteration() == 2);
    resumed.iterate();
    resumed.iterate();

    const auto p = all_parameters(straight), q = all_parameters(resumed);
    REQUIRE(p.size() == q.size());
    for (std::size_t k = 0; k < p.size(); ++k) CHECK(torch::equal(p[k], q[k]));
    CHECK(straight.lambda() == resumed.lambda());
    CHECK(straight.kappa() == resumed.kappa());
  }
  SECTION("a checkpoint of another algorithm or seed is refused") {
    Trainer t(small_market(), small_config(Algorithm::bpg, 0.0), torch::kCPU, 9);
    t.save(dir.file("bpg.pt"));
    Trainer other(small_market(), small_config(Algorithm::cooperative, 0.0), torch::kCPU, 9);
    CHECK_THROWS_AS(other.load(dir.file("bpg.pt")), UsageError);
    Trainer reseeded(small_market(), small_config(Algorithm::bpg, 0.0), torch::kCPU, 10);
    CHECK_THROWS_AS(reseeded.load(dir.file("bpg.pt")), UsageError);
    CHECK(read_checkpoint_info(dir.file("bpg.pt")).agents == 3);
  }
}

namespace {

// Single-slot second price, utility = value - cost, budgets that never bind: truthful bidding is a
// dominant strategy, so no unilateral deviation gains on any draw.
Scenario utility_market() {
  return parse_scenario(
      "seed: 4\nmarket: {envs: 1, steps: 2}\nagents: {count: 3, budget: .inf, value_scale: [1, 1.2, 0.8]}\n"
      "impressions: {per_step: 10}\nvalues: {sigma: 0.5}\nmechanism: {type: second_price}\nreward: utility\n",
      "utility");
}

LearningConfig best_response_config() {
  LearningConfig c;
  c.best_response.steps = 60;
  c.best_response.envs_per_agent = 16;
  c.best_response.eval_envs_per_agent = 16;
  c.best_response.lr = 0.02;
  c.best_response.initial_log_std = -1.0;
  return c;
}

}  // namespace

TEST_CASE("exploitability: truthful second price is an equilibrium, shading is not", "[rl][exploitability]") {
  const Scenario market = utility_market();
  const LearningConfig c = best_response_config();
  const EvaluationResult truthful = evaluate_policy(with_builtin_policy(market, "truthful"), {Actor(), "truthful"},
                                                    Actor(), c, torch::kCPU, 1);
  REQUIRE(truthful.agents.size() == 3);
  CHECK(truthful.social_welfare > 0);
  CHECK(truthful.max_exploitability == Approx(0.0).margin(1e-9));

  const EvaluationResult shaded = evaluate_policy(with_builtin_policy(market, "constant:0.6"),
                                                  {Actor(), "constant:0.6"}, Actor(), c, torch::kCPU, 1);
  for (double gain : shaded.exploitability) CHECK(gain > 0.0);
  CHECK(shaded.max_exploitability > 0.01);

  CHECK_THROWS_AS(with_builtin_policy(market, "constant:-1"), UsageError);
  CHECK_THROWS_AS(with_builtin_policy(market, "greedy"), UsageError);
}

TEST_CASE("learning: section is parsed strictly", "[rl][config]") {
  const LearningConfig c = parse_learning_config("learning: {algorithm: cooperative, epsilon: 0.04, best_response: {steps: 3}}\n",
                                                 "x.yaml", {"learning.xi=3"});
  CHECK(c.algorithm == Algorithm::cooperative);
  CHECK(c.epsilon == 0.04);
  CHECK(c.xi == 3.0);
  CHECK(c.best_response.steps == 3);
  CHECK_THROWS_AS(parse_learning_config("learning: {epsilom: 0.1}\n", "x.yaml", {}), ScenarioError);
  CHECK_THROWS_AS(parse_learning_config("learning: {epsilon: -1}\n", "x.yaml", {}), ScenarioError);
  CHECK(parse_learning_config("market: {envs: 2}\n", "x.yaml", {}).algorithm == Algorithm::bpg);
  // The market loader accepts the section (it belongs to rl/).
  CHECK(parse_scenario("learning: {epsilon: 0.1}\n", "x.yaml").agents.count == 10);
}

// --- issue 13: the terms for N > 2 and T > 1, the batches they are fed, common random numbers, ξ --------

namespace {

// N agents, T steps, one impression per step, constant values, no budgets: every step is the same
// single-slot second-price auction, so with policies that ignore the history-dependent observation
// fields each step's outcome is independent and G_i = Σ_t v_i P_t(i wins) has a closed form.
Scenario static_market(int envs, int steps, const std::vector<double>& values) {
  std::string list;
  for (double v : values) list += (list.empty() ? "" : ", ") + std::to_string(v);
  return parse_scenario("market: {envs: " + std::to_string(envs) + ", steps: " + std::to_string(steps) +
                            "}\nagents: {count: " + std::to_string(values.size()) + ", budget: .inf, value_scale: [" +
                            list +
                            "]}\nimpressions: {per_step: 1}\n"
                            "values: {model: procedural, distribution: lognormal, sigma: 0.0}\n"
                            "mechanism: {type: second_price}\nreward: value\n",
                        "static");
}

// The observation fields that depend on the episode's history (the others are fixed per step here;
// without a budget the spend and value shares are money amounts, see engine/core/observation_physics.hpp).
const std::vector<int> kHistoryFields = {kObsLastWinRate, kObsLastSpendShare, kObsLastValueShare,
                                         kObsLastPricePerWin, kObsMeanWinRate};

// Position of the first layer's weight [H, in] in parameters() (a module lists its own parameters first).
std::size_t first_layer_index(BidPolicy p) {
  std::size_t k = 0;
  for (const auto& item : p->named_parameters()) {
    if (item.key() == "hidden1.weight") return k;
    ++k;
  }
  throw std::logic_error("no hidden1.weight");
}

// A random policy whose first layer ignores the history fields of the current observation.
BidPolicy history_free_policy(bool sees_initial_state, double log_std, std::uint64_t seed) {
  BidPolicy p = random_policy(sees_initial_state, log_std, seed);
  torch::NoGradGuard no_grad;
  for (int f : kHistoryFields) p->parameters()[first_layer_index(p)].select(1, f).zero_();
  return p;
}

// The same gradient with the history-field columns of the first layer zeroed: their exact value depends
// on the history, which the closed form does not model (every other entry is compared).
Gradient without_history_columns(Gradient g) {
  static const std::size_t layer = first_layer_index(BidPolicy(PolicyOptions{}));
  g[layer] = g[layer].clone();
  for (int f : kHistoryFields) g[layer].select(1, f).zero_();
  return g;
}

BidPolicy clone_policy(BidPolicy p) {
  BidPolicy c(p->options());
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < c->parameters().size(); ++k) c->parameters()[k].copy_(p->parameters()[k]);
  return c;
}

// P(agent i's score is the highest) for independent scores s_j ~ N(mu_j, sd_j²), by quadrature of
// ∫ φ_i(x) Π_{j≠i} Φ_j(x) dx on a fine grid; differentiable in mu and sd.
torch::Tensor win_probabilities(const torch::Tensor& mu, const torch::Tensor& sd) {
  const double lo = (mu - 10 * sd).min().item<double>(), hi = (mu + 10 * sd).max().item<double>();
  const int points = 8001;
  const torch::Tensor x = torch::linspace(lo, hi, points, torch::kFloat64).unsqueeze(1);  // [G,1]
  const torch::Tensor z = (x - mu.unsqueeze(0)) / sd.unsqueeze(0);                       // [G,N]
  const torch::Tensor pdf = torch::exp(-0.5 * z * z) / (sd.unsqueeze(0) * std::sqrt(2 * M_PI));
  const torch::Tensor log_cdf = torch::log(normal_cdf(z).clamp_min(1e-300));
  const torch::Tensor others = torch::exp(log_cdf.sum(1, true) - log_cdf);
  return (pdf * others).sum(0) * ((hi - lo) / (points - 1));
}

// Expected returns G [N] when every agent follows `theta` except `deviator` (-1: nobody), who follows
// `deviating`; the policies act on env 0's observations of `tr` (the same in every env, see REQUIRE).
torch::Tensor expected_returns(BidPolicy theta, BidPolicy deviating, int deviator, const Trajectory& tr,
                               const std::vector<double>& values) {
  const int T = tr.steps, N = tr.agents, F = kObservationWidth;
  const torch::Tensor obs = tr.observation[0];                                  // [T,N,F]
  const torch::Tensor obs0 = tr.initial_observation[0].unsqueeze(0).expand({T, N, F});
  const torch::Tensor agents = torch::arange(N).repeat({T});
  const ActionDistribution d = theta->forward({obs.reshape({-1, F}), obs0.reshape({-1, F}), agents, torch::Tensor()});
  torch::Tensor mean = d.mean.reshape({T, N}).to(torch::kFloat64), sd = torch::exp(d.log_std).reshape({T, N}).to(torch::kFloat64);
  if (deviator >= 0) {
    const ActionDistribution e = deviating->forward({obs.select(1, deviator), obs0.select(1, deviator),
                                                     torch::full({T}, deviator, torch::kInt64), torch::Tensor()});
    const torch::Tensor one_hot = torch::zeros({1, N}, torch::kFloat64).index_fill_(1, torch::tensor({deviator}), 1.0);
    mean = mean * (1 - one_hot) + e.mean.to(torch::kFloat64).unsqueeze(1) * one_hot;
    sd = sd * (1 - one_hot) + torch::exp(e.log_std).to(torch::kFloat64).unsqueeze(1) * one_hot;
  }
  const torch::Tensor v = torch::tensor(values, torch::kFloat64);
  torch::Tensor g = torch::zeros({N}, torch::kFloat64);
  for (int t = 0; t < T; ++t) g = g + v * win_probabilities(mean[t] + v.log(), sd[t]);
  return g;
}

// Σ_i w_i G_i(agent i deviating to `deviating`; others θ) (w = λ for L_s/L'_g, κ for L*_w, eq. 37).
torch::Tensor weighted_deviation_objective(BidPolicy theta, BidPolicy deviating, const Trajectory& tr,
                                           const std::vector<double>& values, const std::vector<double>& weights) {
  torch::Tensor sum = torch::zeros({}, torch::kFloat64);
  for (int i = 0; i < tr.agents; ++i)
    if (weights[i] != 0) sum = sum + weights[i] * expected_returns(theta, deviating, i, tr, values)[i];
  return sum;
}

void require_history_free_observations(const Trajectory& tr) {
  torch::Tensor static_fields = tr.observation.clone();
  for (int f : kHistoryFields) static_fields.select(3, f).zero_();
  REQUIRE(torch::equal(static_fields, static_fields[0].unsqueeze(0).expand_as(static_fields)));
}

}  // namespace

TEST_CASE("Table-4 terms for N = 3, T = 2 match their exact values; swapped batches fail", "[rl][gradients]") {
  const std::vector<double> values = {2.0, 1.5, 1.0};
  RolloutCollector collector(static_market(kEnvs, 2, values), torch::kCPU, 21);
  const BidPolicy theta = history_free_policy(false, std::log(0.5), 31);
  const BidPolicy nu = history_free_policy(true, std::log(0.6), 32);
  const BidPolicy x = history_free_policy(true, std::log(0.4), 33);
  const std::vector<double> lambda = {0.6, 0.0, 1.4};  // agent 1 satisfies its constraint: never deviates
  const std::vector<double> kappa = sample_ratios(lambda);

  const Trajectory all_theta = rollout(collector, theta, nullptr, {}, 40);
  const std::vector<int> deviators = sample_deviators(kappa, kEnvs, 0.5);
  const Trajectory with_nu = rollout(collector, theta, nu, deviators, 41);
  const Trajectory with_x = rollout(collector, theta, x, deviators, 41);  // same draws as with_nu
  require_history_free_observations(all_theta);
  require_history_free_observations(with_nu);

  torch::Tensor weights_l1 = torch::tensor(lambda, torch::kFloat64) + 1.0;
  const torch::Tensor l1_objective = (weights_l1 * expected_returns(theta, nullptr, -1, all_theta, values)).sum();
  const torch::Tensor competitive = weighted_deviation_objective(theta, nu, with_nu, values, lambda);
  const torch::Tensor weighted = weighted_deviation_objective(theta, x, with_x, values, kappa);
  const Gradient exact_l1 = without_history_columns(exact_gradient(l1_objective, theta));
  const Gradient exact_ls = without_history_columns(exact_gradient(competitive, theta));
  const Gradient exact_lg = without_history_columns(exact_gradient(competitive, nu));
  const Gradient exact_lw = without_history_columns(exact_gradient(weighted, theta));

  const BpgTerms terms = bpg_terms(theta, nu, all_theta, with_nu, with_x, lambda);
  CHECK(relative_error(without_history_columns(terms.l1), exact_l1) < kTolerance);
  CHECK(relative_error(without_history_columns(terms.ls), exact_ls) < kTolerance);
  CHECK(relative_error(without_history_columns(terms.lg), exact_lg) < kTolerance);
  CHECK(relative_error(without_history_columns(terms.lw), exact_lw) < kTolerance);

  // Feeding x*'s batch where ν̄'s belongs (and back), or θ's batch to L1's place of another, is caught.
  const BpgTerms swapped = bpg_terms(theta, nu, all_theta, with_x, with_nu, lambda);
  CHECK(relative_error(without_history_columns(swapped.ls), exact_ls) > 3 * kTolerance);
  CHECK(relative_error(without_history_columns(swapped.lw), exact_lw) > 3 * kTolerance);
  const BpgTerms wrong_l1 = bpg_terms(theta, nu, with_nu, with_nu, with_x, lambda);
  CHECK(relative_error(without_history_columns(wrong_l1.l1), exact_l1) > 3 * kTolerance);
  // With λ̄ = 0 only L1 is formed (C.2.1; the cooperative gradient, λ = 0), from empty weighted batches.
  const BpgTerms zero = bpg_terms(theta, nu, all_theta, Trajectory(), Trajectory(), {0.0, 0.0, 0.0});
  const Gradient cooperative = cooperative_gradient(theta, all_theta, {});
  for (std::size_t k = 0; k < cooperative.size(); ++k) CHECK(torch::equal(zero.l1[k], cooperative[k]));
  CHECK((zero.ls.empty() && zero.lg.empty() && zero.lw.empty()));
}

TEST_CASE("the ξ rule keeps (1 - ξ/λ̄) < 0", "[rl][bpg][xi]") {
  CHECK(penalty_weight(1.0, 0.0, 0.5) == 1.0);  // λ̄ = 0: the floor (ξ does not enter (41))
  CHECK(penalty_weight(1.0, 2.0, 0.5) == 3.0);  // (1 + margin)·λ̄ above the floor
  CHECK(penalty_weight(5.0, 2.0, 0.5) == 5.0);  // the floor above (1 + margin)·λ̄
  for (double lambda_bar : {1e-6, 0.3, 7.0, 1e6})
    CHECK(1.0 - penalty_weight(0.1, lambda_bar, 0.25) / lambda_bar <= -0.25 + 1e-12);

  LearningConfig c = small_config(Algorithm::bpg, 0.0);
  c.initial_multiplier = 0.3;
  c.unified_solution_steps = 3;
  c.lr_unified_solution = 0.1;
  c.xi = 1e-9;  // a floor far below λ̄: the rule alone sets ξ
  c.xi_margin = 0.75;
  Trainer t(small_market(), c, torch::kCPU, 2);
  const IterationRecord r = t.iterate();
  REQUIRE(r.lambda_bar > 0.0);
  CHECK(r.xi == Approx(1.75 * r.lambda_bar));
  CHECK(r.xi_over_lambda_bar == Approx(1.75));
  CHECK_THROWS_AS(parse_learning_config("learning: {xi_margin: 0}\n", "x.yaml", {}), ScenarioError);
  CHECK_THROWS_AS(parse_learning_config("learning: {xi_margin: .nan}\n", "x.yaml", {}), ScenarioError);
  CHECK_THROWS_AS(parse_learning_config("learning: {optimizer: rmsprop}\n", "x.yaml", {}), ScenarioError);
  CHECK(parse_learning_config("learning: {}\n", "x.yaml", {}).optimizer == OptimizerKind::sgd);  // (14) as written
  CHECK(parse_learning_config("learning: {optimizer: adam}\n", "x.yaml", {}).optimizer == OptimizerKind::adam);
}

namespace {

// The ε = 0 setting of the tests above: θ underbids, x* finds unilateral gains, λ̄ > 0 at once.
LearningConfig binding_config(Algorithm a) {
  LearningConfig c = small_config(a, 0.0);
  c.initial_multiplier = 0.3;
  c.unified_solution_steps = 3;
  c.lr_unified_solution = 0.1;
  return c;
}

const BatchRecord& batch_named(const Trainer& t, const std::string& purpose) {
  for (const BatchRecord& b : t.last_batches())
    if (b.purpose == purpose) return b;
  FAIL("no batch " << purpose);
  throw std::logic_error("unreachable");
}

std::vector<torch::Tensor> parameters_of(BidPolicy p) {
  std::vector<torch::Tensor> out;
  for (const auto& x : p->parameters()) out.push_back(x.detach().clone());
  return out;
}

}  // namespace

TEST_CASE("common random numbers: paired batches share episode, noise and deviators", "[rl][bpg][crn]") {
  Trainer t(small_market(), binding_config(Algorithm::bpg), torch::kCPU, 2);
  const IterationRecord r = t.iterate();
  REQUIRE(r.lambda_bar > 0.0);
  // The two returns of (13) per agent, x*'s gradient and its θ baseline, and L_s / L*_w: same draws.
  CHECK(batch_named(t, "dual_x").draws == batch_named(t, "dual_paired").draws);
  CHECK(batch_named(t, "x_step").draws == batch_named(t, "x_step_paired").draws);
  const BatchRecord& nu = batch_named(t, "weighted_nu");
  const BatchRecord& x = batch_named(t, "weighted_x");
  CHECK(nu.draws == x.draws);
  CHECK(nu.deviators == x.deviators);
  CHECK(nu.deviation == "nu");
  CHECK(x.deviation == "x");
  // Batches that estimate different things draw afresh.
  CHECK_FALSE(batch_named(t, "theta").draws == nu.draws);
  CHECK_FALSE(batch_named(t, "dual_x").draws == nu.draws);
  for (const BatchRecord& b : t.last_batches()) CHECK(b.draws.noise_key == b.draws.episode);

  SECTION("same draws mean the same noise for every agent that follows θ") {
    const Scenario s = small_market();
    RolloutCollector c(s, torch::kCPU, 5);
    const BidPolicy theta = random_policy(false, -1.0, 1), a = random_policy(true, -1.0, 2), b = random_policy(true, -0.5, 3);
    const std::vector<int> deviators = {0, 1, 2, 0, 1, 2, 0, 1};
    const Trajectory ta = rollout(c, theta, a, deviators, 7), tb = rollout(c, theta, b, deviators, 7);
    const torch::Tensor others = non_deviator_mask(ta).to(torch::kBool);  // [E,N]
    // At t = 0 every env starts from the same state, so the others' actions agree exactly.
    CHECK(torch::equal(ta.action.select(1, 0).masked_select(others), tb.action.select(1, 0).masked_select(others)));
    CHECK_FALSE(torch::equal(ta.action.select(1, 0), tb.action.select(1, 0)));  // the deviators differ
  }
}

TEST_CASE("with ν̄ = x*, common draws make ξ L*_w and (ξ/λ̄) L_s cancel exactly", "[rl][bpg][crn]") {
  LearningConfig c = small_config(Algorithm::bpg, 0.0);
  c.lr_unified_solution = 0.0;  // x* stays where it is, so ν̄ can be made equal to it
  c.dual_envs_per_agent = 4;
  c.initial_multiplier = 0.3;   // θ underbids ...
  Trainer t(small_market(), c, torch::kCPU, 4);
  {
    torch::NoGradGuard no_grad;
    // ... and x* bids e times higher, so deviating to it pays (λ̄ > 0); ν̄ is made the same policy.
    for (auto& item : t.unified_solution()->named_parameters())
      if (item.key() == "head.bias") item.value().add_(1.0);
    for (std::size_t k = 0; k < t.unified_solution()->parameters().size(); ++k)
      t.unified_optimizer()->parameters()[k].copy_(t.unified_solution()->parameters()[k]);
  }
  const IterationRecord r = t.iterate();
  REQUIRE(r.lambda_bar > 0.0);
  const BpgTerms& terms = t.last_terms();
  REQUIRE(terms.ls.size() == terms.lw.size());
  for (std::size_t k = 0; k < terms.ls.size(); ++k)
    CHECK(torch::allclose(terms.ls[k], r.lambda_bar * terms.lw[k], 1e-4, 1e-6 * (r.lambda_bar + 1)));
}

TEST_CASE("step (14) is the plain step; bpg_zero steps L_s(θ, x*) - L1 and leaves ν̄ alone", "[rl][bpg]") {
  for (Algorithm a : {Algorithm::bpg, Algorithm::bpg_zero}) {
    LearningConfig c = binding_config(a);
    c.lr_policy = 0.05;
    c.lr_unified_optimizer = 0.07;
    Trainer t(small_market(), c, torch::kCPU, 2);
    const std::vector<torch::Tensor> theta0 = parameters_of(t.policy()), nu0 = parameters_of(t.unified_optimizer());
    const IterationRecord r = t.iterate();
    REQUIRE(r.lambda_bar > 0.0);
    const BpgTerms& terms = t.last_terms();
    const double w = r.social_welfare;  // value rewards are non-negative: W = social welfare
    Gradient delta_theta, delta_nu;
    if (a == Algorithm::bpg) {
      const PrimalStep step = primal_direction(terms.l1, terms.ls, terms.lg, terms.lw, r.xi, r.lambda_bar);
      delta_theta = step.delta_theta;
      delta_nu = step.delta_nu;
      CHECK(r.norm_lg > 0.0);
      CHECK(r.norm_lw > 0.0);
    } else {
      CHECK(terms.lg.empty());
      CHECK(terms.lw.empty());
      for (std::size_t k = 0; k < terms.l1.size(); ++k) delta_theta.push_back(terms.ls[k] - terms.l1[k]);
      for (const BatchRecord& b : t.last_batches()) CHECK(b.deviation != "nu");
    }
    CHECK(r.norm_ls > 0.0);
    const std::vector<torch::Tensor> theta1 = parameters_of(t.policy()), nu1 = parameters_of(t.unified_optimizer());
    for (std::size_t k = 0; k < theta0.size(); ++k)
      CHECK(torch::allclose(theta1[k], theta0[k] - c.lr_policy * delta_theta[k] / w, 1e-4, 1e-6));
    for (std::size_t k = 0; k < nu0.size(); ++k) {
      const torch::Tensor expected = delta_nu.empty() ? nu0[k] : nu0[k] - c.lr_unified_optimizer * delta_nu[k] / w;
      CHECK(torch::allclose(nu1[k], expected, 1e-4, 1e-6));
    }
  }
}

TEST_CASE("update directions over a few iterations agree with the exact gradients of (35)", "[rl][bpg][directions]") {
  // T = 1: the only observation is the initial one, so the closed form holds for any parameters.
  const std::vector<double> values = {2.0, 1.5, 1.0};
  const Scenario market = static_market(3000, 1, values);
  LearningConfig c = small_config(Algorithm::bpg, 0.0);
  c.initial_multiplier = 0.3;
  c.unified_solution_steps = 3;
  c.lr_unified_solution = 0.1;
  c.dual_envs_per_agent = 1000;
  c.dual_max_envs = 3000;
  Trainer t(market, c, torch::kCPU, 6);
  RolloutCollector probe(market, torch::kCPU, 99);  // observations for the closed form only
  int binding = 0;
  for (int k = 0; k < 3; ++k) {
    const BidPolicy theta = clone_policy(t.policy()), nu = clone_policy(t.unified_optimizer());
    const IterationRecord r = t.iterate();
    const BidPolicy x = t.unified_solution();
    const Trajectory tr = rollout(probe, theta, nullptr, {}, 0);
    const std::vector<double>& lambda = t.lambda();
    // L_p of (35) without its constant terms; (11) is ∇L_p, (14) descends it.
    torch::Tensor objective = -((torch::tensor(lambda, torch::kFloat64) + 1.0) * expected_returns(theta, nullptr, -1, tr, values)).sum();
    if (r.lambda_bar > 0) {
      ++binding;
      const std::vector<double> kappa = t.kappa();
      objective = objective + weighted_deviation_objective(theta, nu, tr, values, lambda) +
                  r.xi * (weighted_deviation_objective(theta, x, tr, values, kappa) -
                          weighted_deviation_objective(theta, nu, tr, values, kappa));
    }
    const BpgTerms& terms = t.last_terms();
    const PrimalStep step = primal_direction(terms.l1, terms.ls, terms.lg, terms.lw, r.xi, r.lambda_bar);
    auto inner = [](const Gradient& a, const Gradient& b) {
      double s = 0;
      for (std::size_t p = 0; p < a.size(); ++p) s += (a[p].to(torch::kFloat64) * b[p].to(torch::kFloat64)).sum().item<double>();
      return s;
    };
    const Gradient exact_theta = exact_gradient(objective, theta);
    INFO("iteration " << k + 1 << " lambda_bar " << r.lambda_bar);
    CHECK(inner(step.delta_theta, exact_theta) > 0.5 * norm_of(step.delta_theta) * norm_of(exact_theta));
    if (r.lambda_bar > 0) {
      const Gradient exact_nu = exact_gradient(objective, nu);
      CHECK(inner(step.delta_nu, exact_nu) > 0.5 * norm_of(step.delta_nu) * norm_of(exact_nu));
    }
  }
  CHECK(binding > 0);
}
