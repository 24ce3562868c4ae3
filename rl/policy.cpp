// The shared bidding policy and the batched per-agent best-response policy (see policy.hpp).
// Both return a Gaussian over the log multiplier; sampling and log-probs live in rollout.cpp.
#include "rl/policy.hpp"

#include <cmath>

namespace bidsim::rl {

torch::Tensor squash_features(const torch::Tensor& x) { return torch::sign(x) * torch::log1p(torch::abs(x)); }

torch::Tensor gaussian_log_prob(const torch::Tensor& u, const ActionDistribution& d) {
  static const double half_log_two_pi = 0.5 * std::log(2.0 * M_PI);
  const torch::Tensor z = (u - d.mean) * torch::exp(-d.log_std);
  return -0.5 * z * z - d.log_std - half_log_two_pi;
}

BidPolicyImpl::BidPolicyImpl(const PolicyOptions& o) : options_(o) {
  const int in = o.observation_width * (o.sees_initial_state ? 2 : 1);
  hidden1_ = register_module("hidden1", torch::nn::Linear(in, o.hidden));
  hidden2_ = register_module("hidden2", torch::nn::Linear(o.hidden, o.hidden));
  head_ = register_module("head", torch::nn::Linear(o.hidden, 1));
  // A zero head makes the untrained policy the same for every agent: N(u0, σ0²).
  torch::NoGradGuard no_grad;
  head_->weight.zero_();
  head_->bias.zero_();
  log_std_ = register_parameter("log_std", torch::full({1}, o.initial_log_std));
}

ActionDistribution BidPolicyImpl::forward(const ActorInput& in) {
  torch::Tensor x = squash_features(in.observation);
  if (options_.sees_initial_state) x = torch::cat({x, squash_features(in.initial_observation)}, -1);
  const torch::Tensor h = torch::tanh(hidden2_(torch::tanh(hidden1_(x))));
  const torch::Tensor mean = head_(h).squeeze(-1) + options_.initial_log_multiplier;
  const torch::Tensor log_std = torch::clamp_min(log_std_, options_.min_log_std).expand_as(mean);
  return {mean, log_std};
}

AgentResidualPolicyImpl::AgentResidualPolicyImpl(int agents, int width, int hidden, double initial_log_std) {
  const double scale = 1.0 / std::sqrt(double(width));
  w1_ = register_parameter("w1", torch::randn({agents, width, hidden}) * scale);
  b1_ = register_parameter("b1", torch::zeros({agents, hidden}));
  w2_ = register_parameter("w2", torch::zeros({agents, hidden}));
  b2_ = register_parameter("b2", torch::zeros({agents}));
  log_std_ = register_parameter("log_std", torch::full({agents}, initial_log_std));
}

ActionDistribution AgentResidualPolicyImpl::forward(const ActorInput& in) {
  const torch::Tensor& agent = in.agent;
  const torch::Tensor x = squash_features(in.observation).unsqueeze(1);             // [B,1,F]
  const torch::Tensor h = torch::tanh(torch::bmm(x, w1_.index_select(0, agent)).squeeze(1) +
                                      b1_.index_select(0, agent));                   // [B,H]
  const torch::Tensor delta = (h * w2_.index_select(0, agent)).sum(-1) + b2_.index_select(0, agent);
  return {in.base_mean + delta, log_std_.index_select(0, agent)};
}

Actor actor_of(BidPolicy policy) {
  return [policy](const ActorInput& in) mutable { return policy->forward(in); };
}

Actor actor_of(AgentResidualPolicy policy) {
  return [policy](const ActorInput& in) mutable { return policy->forward(in); };
}

}  // namespace bidsim::rl
