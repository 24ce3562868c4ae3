// Learned bidding policies: one network shared by all agents (identity enters through the context
// fields of the observation, so the parameter count does not grow with N), Gaussian over log multiplier.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <utility>

namespace bidsim::rl {

// What an actor sees for a batch of B (environment, step, agent) rows.
struct ActorInput {
  torch::Tensor observation;          // [B, F] the agent's observation now
  torch::Tensor initial_observation;  // [B, F] the agent's observation at t = 0 (its initial local state)
  torch::Tensor agent;                // [B] int64 agent index
  torch::Tensor base_mean;            // [B] mean log multiplier the base policy proposed (for residual actors)
};

// Gaussian over the log multiplier u: mean [B] and log σ [B]. The bid multiplier is exp(u).
struct ActionDistribution {
  torch::Tensor mean;
  torch::Tensor log_std;
};

// Anything that can act: θ, ν̄, x*, a per-agent best response, or a built-in policy.
using Actor = std::function<ActionDistribution(const ActorInput&)>;

// log N(u; mean, σ²), elementwise.
torch::Tensor gaussian_log_prob(const torch::Tensor& u, const ActionDistribution& d);

struct PolicyOptions {
  int observation_width = 12;
  bool sees_initial_state = false;  // x* and ν̄ also see the initial local state (§5.2)
  int hidden = 64;
  double initial_log_multiplier = 0.0;  // the untrained policy is N(this, σ0²) for every agent
  double initial_log_std = -1.0;
  double min_log_std = -4.0;
};

// Shared-parameter Gaussian policy: mean = u0 + MLP(squash(features)); log σ is one learned scalar.
class BidPolicyImpl : public torch::nn::Module {
 public:
  explicit BidPolicyImpl(const PolicyOptions& options);

  ActionDistribution forward(const ActorInput& in);
  const PolicyOptions& options() const { return options_; }

 private:
  PolicyOptions options_;
  torch::nn::Linear hidden1_{nullptr}, hidden2_{nullptr}, head_{nullptr};
  torch::Tensor log_std_;
};
TORCH_MODULE(BidPolicy);

// Best responses of many agents at once, each with its own parameters: agent i acts with
// mean = base_mean + MLP_i(squash(observation)) and its own log σ_i. The last layer starts at zero,
// so every best response starts exactly at the policy it deviates from (the gain starts at 0).
class AgentResidualPolicyImpl : public torch::nn::Module {
 public:
  AgentResidualPolicyImpl(int agents, int observation_width, int hidden, double initial_log_std);

  ActionDistribution forward(const ActorInput& in);

 private:
  torch::Tensor w1_, b1_, w2_, b2_, log_std_;  // [N,F,H], [N,H], [N,H], [N], [N]
};
TORCH_MODULE(AgentResidualPolicy);

// Features fed to the networks: sign(x)·log(1+|x|), so money-valued fields (price per win) and
// unit-free shares live on comparable scales whatever the scenario's currency.
torch::Tensor squash_features(const torch::Tensor& x);

Actor actor_of(BidPolicy policy);
Actor actor_of(AgentResidualPolicy policy);

}  // namespace bidsim::rl
