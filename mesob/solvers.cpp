// The mean-field solvers (see solvers.hpp). OMO solvers iterate on (y, z, d) with omo_step (exact
// gradient, then the projections; omo_kernel.hpp); OMD and FP iterate on policies; the heuristic simulates
// auctions with counter-based draws, so every solver is deterministic for a given configuration.
// solve_batch also drives the batched OMO engines of omo_batch.hpp.
#include "mesob/solvers.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/core/errors.hpp"
#include "engine/core/rng.hpp"
#include "mesob/omo_batch.hpp"

namespace bidsim::mesob {

const char* to_string(SolverKind kind) {
  switch (kind) {
    case SolverKind::mesob_omo: return "mesob-omo";
    case SolverKind::mf_omo: return "mf-omo";
    case SolverKind::mfc: return "mfc";
    case SolverKind::omd: return "omd";
    case SolverKind::fp: return "fp";
    case SolverKind::heuristic: return "heuristic";
  }
  return "?";
}

const char* to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::gradient: return "gradient";
    case OptimizerKind::armijo: return "armijo";
    case OptimizerKind::mirror: return "mirror";
  }
  return "?";
}

bool parse_optimizer(const std::string& text, OptimizerKind& kind) {
  for (OptimizerKind k : {OptimizerKind::adam, OptimizerKind::gradient, OptimizerKind::armijo, OptimizerKind::mirror}) {
    if (text == to_string(k)) {
      kind = k;
      return true;
    }
  }
  return false;
}

bool parse_solver(const std::string& text, SolverKind& kind) {
  for (SolverKind k : {SolverKind::mesob_omo, SolverKind::mf_omo, SolverKind::mfc, SolverKind::omd,
                       SolverKind::fp, SolverKind::heuristic}) {
    if (text == to_string(k)) {
      kind = k;
      return true;
    }
  }
  return false;
}

OmoWeights effective_weights(const SolverConfig& config) {
  OmoWeights w = config.weights;
  // Appendix C.1: MF-OMO is ‖A_d d − b‖² + ‖A_d^T y + z − c_d‖² + z^T d, all weights 1.
  if (config.kind == SolverKind::mf_omo) w = OmoWeights{0.0, 1.0, 1.0, 1.0};
  // §3.2's cooperation end: λ1 = 1, λ2 = 0, and no best-response term. Lemma 4 (Appendix C.2) makes MFC
  // max V(d) subject to A_d d = b, d ≥ 0 alone: y and z do not enter V, and ρ2 h^BR would pull d toward
  // points where the best-response equations are easy to meet, away from the maximum of F.
  if (config.kind == SolverKind::mfc) { w.lambda1 = 1; w.lambda2 = 0; w.rho2 = 0; }
  return w;
}

int effective_multiplier_every(const SolverConfig& config) {
  if (config.multiplier_every >= 0) return config.multiplier_every;
  return config.kind == SolverKind::mf_omo ? kMfOmoMultiplierEvery : 0;
}

bool is_omo(SolverKind kind) {
  return kind == SolverKind::mesob_omo || kind == SolverKind::mf_omo || kind == SolverKind::mfc;
}

OmoStepConfig omo_step_config(const SolverConfig& config) {
  OmoStepConfig s;
  s.weights = effective_weights(config);
  static_assert(static_cast<int>(OptimizerKind::adam) == static_cast<int>(OmoStepRule::adam) &&
                    static_cast<int>(OptimizerKind::gradient) == static_cast<int>(OmoStepRule::gradient) &&
                    static_cast<int>(OptimizerKind::armijo) == static_cast<int>(OmoStepRule::armijo) &&
                    static_cast<int>(OptimizerKind::mirror) == static_cast<int>(OmoStepRule::mirror),
                "OptimizerKind and OmoStepRule name the same rules in the same order");
  s.rule = static_cast<OmoStepRule>(static_cast<int>(config.optimizer));
  s.lr = config.lr;
  s.exact_consistency = config.exact_consistency;
  s.tol = config.tol;
  s.multiplier_every = effective_multiplier_every(config);
  s.beta1 = config.adam_beta1;
  s.beta2 = config.adam_beta2;
  s.iterations = config.iterations;
  return s;
}

std::vector<OmoStepConfig> omo_step_configs(const std::vector<SolverConfig>& configs) {
  std::vector<OmoStepConfig> steps;
  steps.reserve(configs.size());
  for (const SolverConfig& c : configs) steps.push_back(omo_step_config(c));
  return steps;
}

bool is_record_iteration(const SolverConfig& c, int iteration) {
  return iteration == c.iterations || (c.record_every > 0 && iteration % c.record_every == 0);
}

namespace {

// Fills the policy-level fields of a result (exploitability and welfare of Γ(π)).
void finish_policy(const AuctionGame& game, SolveResult& r) {
  ExploitabilityResult e = exploitability(game, r.policy);
  r.exploitability = e.exploitability;
  r.flow = std::move(e.flow);
  r.welfare = welfare_of(game, r.flow);
}

IterationRecord policy_record(const AuctionGame& game, const Policy& policy, int iteration) {
  IterationRecord rec;
  rec.iteration = iteration;
  const ExploitabilityResult e = exploitability(game, policy);
  rec.exploitability = e.exploitability;
  rec.welfare = welfare_of(game, e.flow).value;
  rec.objective = rec.exploitability;
  rec.residual = rec.exploitability;
  return rec;
}

// finish_policy, plus the history record of the last iteration (whose policy is r.policy), from the
// same exploitability and welfare evaluation. Solvers record iterations before the last themselves.
// The optimality measure is the exploitability (policy solvers; OMO solvers overwrite it).
void finish_with_record(const AuctionGame& game, SolveResult& r, int last_iteration) {
  finish_policy(game, r);
  // A run that a tolerance stopped right after a recorded iteration recorded that one already.
  if (!r.history.empty() && r.history.back().iteration == last_iteration) r.history.pop_back();
  IterationRecord rec;
  rec.iteration = last_iteration;
  rec.exploitability = r.exploitability;
  rec.welfare = r.welfare.value;
  rec.objective = rec.exploitability;
  rec.residual = rec.exploitability;
  r.history.push_back(rec);
  r.iterations_run = last_iteration;
  r.residual = r.exploitability;
  r.converged = r.residual <= r.config.tol;
}

// The OMO objective, its terms and the residual at the recorded iterate.
void set_omo_terms(IterationRecord& rec, const OmoTerms& terms) {
  rec.objective = terms.objective;
  rec.consistency = terms.consistency;
  rec.best_response = terms.best_response;
  rec.complementarity = terms.complementarity;
  rec.residual = terms.residual;
}

// The end of an OMO solve: the last record carries the iterate's terms; the optimality measure is the
// projected-gradient residual; the last record is at the iteration the solver stopped.
void finish_omo(const AuctionGame& game, SolveResult& r, const OmoTerms& terms) {
  r.final_terms = terms;
  finish_with_record(game, r, terms.iteration);
  set_omo_terms(r.history.back(), terms);
  r.residual = terms.residual;
  r.converged = r.residual <= r.config.tol;
}

// Whether iteration k before the last gets a record (the last one is finish_with_record's).
bool records_before_last(const SolverConfig& c, int k) { return k < c.iterations && is_record_iteration(c, k); }

// The projected first-order method on x = (y, z, d) of one configuration: one omo_state block on the
// host, stepped by omo_step on SerialLanes (the code the CUDA batch runs with a warp per configuration).
class OmoIterate {
 public:
  OmoIterate(const AuctionGame& game, const SolverConfig& config)
      : problem_(omo_problem(game)), config_(omo_step_config(config)), buffer_(omo_state_size(problem_), 0.0),
        state_(omo_state(problem_, buffer_.data())) {
    const Flow d0 = population_flow(game, uniform_policy(game));  // consistent start: the uniform policy's flow
    std::copy(d0.begin(), d0.end(), state_.d);
  }
  OmoIterate(const OmoIterate&) = delete;  // state_ points into buffer_
  OmoIterate& operator=(const OmoIterate&) = delete;

  // One projected step; returns the objective terms at the point the gradient was taken.
  OmoTerms step() { return omo_step(SerialLanes{}, problem_, config_, state_, ++count_); }
  OmoTerms terms() { return omo_terms(SerialLanes{}, problem_, config_, state_); }  // writes the workspace and gradient
  bool stopped() const { return state_.info[kOmoInfoStopped] != 0; }  // the tolerance was reached
  std::vector<double> d() const {
    return std::vector<double>(state_.d, state_.d + static_cast<std::size_t>(problem_.slices) * problem_.pairs);
  }

 private:
  OmoProblem problem_;
  OmoStepConfig config_;
  std::vector<double> buffer_;  // omo_state_size doubles
  OmoState state_;
  int count_ = 0;
};

SolveResult solve_omo(const AuctionGame& game, const SolverConfig& c, const IterationProgress& progress) {
  SolveResult r;
  r.config = c;
  OmoIterate it(game, c);
  auto record = [&](int iteration) {
    IterationRecord rec = policy_record(game, retrieve_policy(game, it.d()), iteration);
    set_omo_terms(rec, it.terms());
    r.history.push_back(rec);
  };
  if (c.iterations > 0) record(0);
  for (int k = 1; k <= c.iterations; ++k) {
    it.step();
    if (it.stopped()) break;  // the step found the residual within tol and did not move
    if (records_before_last(c, k)) record(k);
    if (progress) progress(k, c.iterations);
  }
  r.policy = retrieve_policy(game, it.d());
  finish_omo(game, r, it.terms());
  return r;
}

// Q^π_t(s, a) under the flow Γ(π): r_t(s,a,L_t) + Σ_s' P_t(s'|s,a) V^π_{t+1}(s').
std::vector<double> policy_q_values(const AuctionGame& game, const Policy& pi) {
  const int S = game.states(), A = game.actions(), SA = game.pairs(), T = game.horizon();
  const Flow L = population_flow(game, pi);
  const FlowMetrics metrics = flow_metrics(game, L);
  std::vector<double> q(L.size()), v_next(S, 0.0), v(S);
  for (int t = T; t >= 0; --t) {
    const std::size_t po = static_cast<std::size_t>(t) * SA;
    const double* P = t < T ? &game.transition()[static_cast<std::size_t>(t) * SA * S] : nullptr;
    std::fill(v.begin(), v.end(), 0.0);
    for (int p = 0; p < SA; ++p) {
      double qp = metrics.reward[po + p];
      if (P)
        for (int s2 = 0; s2 < S; ++s2) qp += P[p * S + s2] * v_next[s2];
      q[po + p] = qp;
      v[p / A] += pi[po + p] * qp;
    }
    v_next = v;
  }
  return q;
}

// π = softmax(cumulative) per state row (shifted by the row's maximum, so nothing overflows).
void softmax_rows(const std::vector<double>& cumulative, int A, Policy& pi) {
  for (std::size_t row = 0; row < pi.size(); row += A) {
    const double top = *std::max_element(&cumulative[row], &cumulative[row] + A);
    double total = 0;
    for (int a = 0; a < A; ++a) total += pi[row + a] = std::exp(cumulative[row + a] - top);
    for (int a = 0; a < A; ++a) pi[row + a] /= total;
  }
}

// OMD's adaptive step: doubled after an accepted step (up to kOmdMaxStep), halved (at most
// kOmdMaxBacktracks times) until the exploitability of the new policy is below the current one.
inline constexpr int kOmdMaxBacktracks = 60;
inline constexpr double kOmdMaxStep = 1e12;
// The first trial step is at most kOmdMaxLogitMove / max_rows (max_a Q − min_a Q), so it changes the odds
// of two actions by at most e^kOmdMaxLogitMove. Without the cap a huge first step (lr 1000) is accepted,
// saturates the softmax and leaves OMD crawling back from a near-pure policy; later steps grow from
// accepted ones only.
inline constexpr double kOmdMaxLogitMove = 10;

// Online mirror descent (Perolat et al., 2021): accumulate Q^π under Γ(π), π = softmax(Σ_k η_k Q^{π_k}).
// The fixed-step rules (gradient, adam): η_k = lr. The line-searched ones (armijo, the default, and
// mirror; OMD is a mirror step either way): η_k by backtracking on the merit
// function Expl (eq. 5), as Armijo's rule does on f (Nocedal & Wright §3.1) with the step doubled after
// each success (the "bold driver" grow/shrink schedule, Battiti 1989): a trial η is accepted when
// Expl(softmax(Σ + η Q)) < Expl(π), so no step size has to be tuned to the reward scale (the fixed step that
// converges is 10 on mesob-paper and cycles at 100, while mesob-large needs 100). A step that finds no
// decrease in kOmdMaxBacktracks halvings ends the run (the policy is then where OMD's direction stalls).
SolveResult solve_omd(const AuctionGame& game, const SolverConfig& c, const IterationProgress& progress) {
  SolveResult r;
  r.config = c;
  const int A = game.actions();
  const bool adaptive = c.optimizer == OptimizerKind::armijo || c.optimizer == OptimizerKind::mirror;
  Policy pi = uniform_policy(game), trial(pi.size());
  std::vector<double> cumulative(pi.size(), 0.0), candidate(pi.size());
  if (c.iterations > 0) r.history.push_back(policy_record(game, pi, 0));
  double current = adaptive ? exploitability(game, pi).exploitability : 0.0, step = c.lr;
  int k = 1;
  for (; k <= c.iterations; ++k) {
    if (c.tol > 0 && (adaptive ? current : exploitability(game, pi).exploitability) <= c.tol) break;
    const std::vector<double> q = policy_q_values(game, pi);
    if (!adaptive) {
      for (std::size_t i = 0; i < q.size(); ++i) cumulative[i] += c.lr * q[i];
      softmax_rows(cumulative, A, pi);
    } else {
      double spread = 0;
      for (std::size_t row = 0; row < q.size(); row += A) {
        const auto range = std::minmax_element(&q[row], &q[row] + A);
        spread = std::max(spread, *range.second - *range.first);
      }
      if (k == 1 && spread > 0) step = std::min(step, kOmdMaxLogitMove / spread);
      bool accepted = false;
      for (int b = 0; b < kOmdMaxBacktracks && !accepted; ++b, step *= 0.5) {
        for (std::size_t i = 0; i < q.size(); ++i) candidate[i] = cumulative[i] + step * q[i];
        softmax_rows(candidate, A, trial);
        const double e = exploitability(game, trial).exploitability;
        if (e < current) {
          accepted = true;
          current = e;
          cumulative.swap(candidate);
          pi.swap(trial);
          step = std::min(4 * step, 2 * kOmdMaxStep);  // doubled for the next step (the loop's halving follows)
        }
      }
      if (!accepted) break;
    }
    if (records_before_last(c, k)) r.history.push_back(policy_record(game, pi, k));
    if (progress) progress(k, c.iterations);
  }
  r.policy = pi;
  finish_with_record(game, r, std::max(0, std::min(k - 1, c.iterations)));
  return r;
}

// Fictitious play's line-searched weight: halvings of the mixing weight before FP's own 1/(k+1) is taken.
inline constexpr int kFpMaxBacktracks = 40;

// Fictitious play (Perrin et al., 2020): best response to the averaged flow L̄, then
// L̄ ← (1 − α_k) L̄ + α_k Γ(BR); the policy is Π(L̄). With L-independent transitions every average
// of consistent flows is consistent, so the best response to L̄ is the one to Γ(Π(L̄)).
// The fixed-step rules (gradient, adam): α_k = 1/(k+1), the classic average, which converges as O(1/k)
// (exploitability 1.9e-5 after 50,000 best responses at t = 0..9). The line-searched ones (armijo, the
// default, and mirror): FP's update is a conditional-gradient (Frank-Wolfe) step toward the best
// response, so α_k is chosen as Frank-Wolfe's backtracking does (Pedregosa et al. 2020): from twice the
// last accepted weight, halved until Expl(Π(L̄_new)) < Expl(Π(L̄)) (eq. 5); when no weight in
// kFpMaxBacktracks halvings lowers it, FP's own 1/(k+1) is taken.
SolveResult solve_fp(const AuctionGame& game, const SolverConfig& c, const IterationProgress& progress) {
  SolveResult r;
  r.config = c;
  const bool line_search = c.optimizer == OptimizerKind::armijo || c.optimizer == OptimizerKind::mirror;
  Flow average = population_flow(game, uniform_policy(game)), trial(average.size());
  double alpha = 0.5;  // the last accepted mixing weight (the first trial is 1)
  if (c.iterations > 0) r.history.push_back(policy_record(game, retrieve_policy(game, average), 0));
  int k = 1;
  for (; k <= c.iterations; ++k) {
    const ExploitabilityResult current = exploitability(game, retrieve_policy(game, average));
    if (c.tol > 0 && current.exploitability <= c.tol) break;
    const Policy& best = current.best_response;
    const Flow flow = population_flow(game, best);
    bool mixed = false;
    if (line_search) {
      // Backtracking on Expl from twice the last accepted weight (at most 1).
      alpha = std::min(1.0, 2 * alpha);
      for (int b = 0; b < kFpMaxBacktracks && !mixed; ++b, alpha *= 0.5) {
        for (std::size_t i = 0; i < average.size(); ++i) trial[i] = (1 - alpha) * average[i] + alpha * flow[i];
        if (exploitability(game, retrieve_policy(game, trial)).exploitability < current.exploitability) {
          mixed = true;
          average.swap(trial);
          alpha *= 2;  // the loop's halving follows: alpha stays the accepted weight
        }
      }
    }
    if (!mixed) {  // fictitious play's own weight 1/(k+1), which the next search starts from
      for (std::size_t i = 0; i < average.size(); ++i) average[i] = (k * average[i] + flow[i]) / (k + 1);
      alpha = 1.0 / (k + 1);
    }
    if (records_before_last(c, k)) r.history.push_back(policy_record(game, retrieve_policy(game, average), k));
    if (progress) progress(k, c.iterations);
  }
  r.policy = retrieve_policy(game, average);
  finish_with_record(game, r, std::max(0, std::min(k - 1, c.iterations)));
  return r;
}

// Linear-interpolation quantile of sorted values (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * (sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

int sample_index(const std::vector<double>& cdf, double u) {
  const auto it = std::lower_bound(cdf.begin(), cdf.end(), u);
  return static_cast<int>(std::min<std::ptrdiff_t>(it - cdf.begin(), cdf.size() - 1));
}

// Appendix B, Algorithm 1, on the game's bid grid. The target Uniform[a, b] puts equal mass on the
// bid levels inside [a, b] (the level nearest (a + b) / 2 when none is: the grid is discrete).
SolveResult solve_heuristic(const AuctionGame& game, const SolverConfig& c) {
  const HeuristicParams& h = c.heuristic;
  const int S = game.states(), A = game.actions(), n = game.bidders();
  const std::vector<double>& bids = game.bid();
  std::vector<double> alpha0(A);
  for (int a = 0; a < A; ++a) {
    const double z = h.initial_variance > 0 ? (bids[a] - h.initial_mean) : 0.0;
    alpha0[a] = h.initial_variance > 0 ? std::exp(-z * z / (2 * h.initial_variance)) : 1.0;
  }
  double total0 = 0;
  for (double x : alpha0) total0 += x;
  for (double& x : alpha0) x /= total0;

  std::vector<double> mu_cdf(S);
  double acc = 0;
  for (int s = 0; s < S; ++s) mu_cdf[s] = acc += game.mu0()[s];
  for (double& x : mu_cdf) x /= acc;

  SolveResult r;
  r.config = c;
  std::vector<double> average(A, 0.0), alpha_cdf(A), winning(h.auctions), target(A);
  auto record_average = [&](int round, const std::vector<double>& alpha_sum, int runs) {
    Policy pi(static_cast<std::size_t>(game.slices()) * game.pairs());
    for (std::size_t row = 0; row < pi.size(); row += A)
      for (int a = 0; a < A; ++a) pi[row + a] = alpha_sum[a] / runs;
    return policy_record(game, pi, round);
  };
  // Runs are independent; the history averages α over runs at each recorded round.
  std::vector<std::vector<double>> alpha_at(c.record_every > 0 ? h.rounds / c.record_every + 2 : 2,
                                            std::vector<double>(A, 0.0));
  std::vector<int> recorded_round;
  for (int run = 0; run < h.runs; ++run) {
    std::vector<double> alpha = alpha0;
    std::size_t slot = 0;
    auto keep = [&](int round) {
      if (run == 0) recorded_round.push_back(round);
      for (int a = 0; a < A; ++a) alpha_at[slot][a] += alpha[a];
      ++slot;
    };
    keep(0);
    for (int round = 1; round <= h.rounds; ++round) {
      double cum = 0;
      for (int a = 0; a < A; ++a) alpha_cdf[a] = cum += alpha[a];
      for (int j = 0; j < h.auctions; ++j) {
        double best_score = -1, best_bid = 0;
        std::uint32_t best_key = 0;
        for (int b = 0; b < n; ++b) {
          const Draw w = draw(c.seed, Purpose::mean_field, static_cast<std::uint32_t>(run),
                              static_cast<std::uint32_t>(round), static_cast<std::uint32_t>(j),
                              static_cast<std::uint32_t>(b));
          const int s = sample_index(mu_cdf, uniform01_double(w[0]));
          const int a = sample_index(alpha_cdf, uniform01_double(w[1]) * cum);
          const double score = game.ctr()[s] * bids[a];
          if (score > best_score || (score == best_score && w[2] > best_key)) {
            best_score = score;
            best_bid = bids[a];
            best_key = w[2];
          }
        }
        winning[j] = best_bid;
      }
      std::sort(winning.begin(), winning.end());
      const double lo = quantile(winning, 0.25), hi = quantile(winning, 0.75);
      int inside = 0;
      for (int a = 0; a < A; ++a) inside += (bids[a] >= lo - 1e-12 && bids[a] <= hi + 1e-12);
      for (int a = 0; a < A; ++a)
        target[a] = (inside > 0 && bids[a] >= lo - 1e-12 && bids[a] <= hi + 1e-12) ? 1.0 / inside : 0.0;
      if (inside == 0) {
        int nearest = 0;
        for (int a = 1; a < A; ++a)
          if (std::fabs(bids[a] - 0.5 * (lo + hi)) < std::fabs(bids[nearest] - 0.5 * (lo + hi))) nearest = a;
        target[nearest] = 1.0;
      }
      for (int a = 0; a < A; ++a) alpha[a] += h.eta * (target[a] - alpha[a]);
      if (round == h.rounds || (c.record_every > 0 && round % c.record_every == 0)) keep(round);
    }
    for (int a = 0; a < A; ++a) average[a] += alpha[a];
  }
  for (std::size_t k = 0; k < recorded_round.size(); ++k)
    r.history.push_back(record_average(recorded_round[k], alpha_at[k], h.runs));
  r.policy.assign(static_cast<std::size_t>(game.slices()) * game.pairs(), 0.0);
  for (std::size_t row = 0; row < r.policy.size(); row += A)
    for (int a = 0; a < A; ++a) r.policy[row + a] = average[a] / h.runs;
  finish_policy(game, r);
  r.iterations_run = h.rounds;
  r.residual = r.exploitability;
  r.converged = r.residual <= c.tol;
  return r;
}

}  // namespace

SolveResult solve(const AuctionGame& game, const SolverConfig& config, const IterationProgress& progress) {
  switch (config.kind) {
    case SolverKind::mesob_omo:
    case SolverKind::mf_omo:
    case SolverKind::mfc: return solve_omo(game, config, progress);
    case SolverKind::omd: return solve_omd(game, config, progress);
    case SolverKind::fp: return solve_fp(game, config, progress);
    case SolverKind::heuristic: return solve_heuristic(game, config);
  }
  throw std::logic_error("solve: unknown solver");
}

Device resolve_device(Device requested, const std::vector<SolverConfig>& configs) {
  const auto omo = std::count_if(configs.begin(), configs.end(), [](const SolverConfig& c) { return is_omo(c.kind); });
  return choose_device(requested, omo >= kAutoDeviceMinConfigs);
}

std::vector<SolveResult> solve_omo_batch(const AuctionGame& game, const std::vector<SolverConfig>& configs,
                                         OmoBatchEngine& engine, int threads) {
  const int n = static_cast<int>(configs.size());
  if (engine.size() != n)
    throw std::invalid_argument("solve_omo_batch: the engine holds " + std::to_string(engine.size()) +
                                " configurations, expected " + std::to_string(n));
  // Chunk ends: iteration 0, every configuration's record points and its last iteration.
  std::vector<int> points{0};
  for (const SolverConfig& c : configs) {
    if (!is_omo(c.kind))
      throw std::invalid_argument(std::string("solve_omo_batch: ") + to_string(c.kind) + " is not an OMO solver");
    for (int k = c.record_every; c.record_every > 0 && k < c.iterations; k += c.record_every) points.push_back(k);
    points.push_back(std::max(0, c.iterations));
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());

  std::vector<SolveResult> results(configs.size());
  for (int i = 0; i < n; ++i) results[i].config = configs[i];
  const std::size_t nd = static_cast<std::size_t>(game.slices()) * game.pairs();
  std::vector<double> d;
  std::vector<OmoTerms> terms;
  int done = 0;
  for (const int point : points) {
    if (point > done) engine.advance(done, point - done);
    done = point;
    engine.read(d, terms);
    // The records of solve_omo, from the downloaded d and terms (the CPU work of a device batch).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 0 ? threads : omp_get_max_threads())
    for (int i = 0; i < n; ++i) {
      const SolverConfig& c = configs[i];
      const int last = std::max(0, c.iterations);
      if (point > last || (point > 0 && !is_record_iteration(c, point))) continue;
      SolveResult& r = results[i];
      const std::vector<double> di(d.begin() + i * nd, d.begin() + (i + 1) * nd);
      if (point == last) {
        r.policy = retrieve_policy(game, di);
        finish_omo(game, r, terms[i]);
      } else if (terms[i].iteration == point) {  // not stopped early by its tolerance
        IterationRecord rec = policy_record(game, retrieve_policy(game, di), point);
        set_omo_terms(rec, terms[i]);
        r.history.push_back(rec);
      }
    }
  }
  return results;
}

std::vector<SolveResult> solve_batch(const AuctionGame& game, const std::vector<SolverConfig>& configs,
                                     int threads, Device device, const BatchProgress& progress) {
  const int total = static_cast<int>(configs.size());
  int finished = 0;
  const Device where = resolve_device(device, configs);
  std::vector<SolveResult> results(configs.size());
  std::vector<int> on_cpu, on_device;
  std::vector<SolverConfig> device_configs;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    if (where == Device::cuda && is_omo(configs[i].kind)) {
      on_device.push_back(static_cast<int>(i));
      device_configs.push_back(configs[i]);
    } else {
      on_cpu.push_back(static_cast<int>(i));
    }
  }
  // OMO configurations as one device batch; omd / fp / heuristic iterate on policies and stay on the CPU.
  if (!device_configs.empty()) {
    const std::unique_ptr<OmoBatchEngine> engine = make_cuda_omo_batch(game, omo_step_configs(device_configs));
    std::vector<SolveResult> solved = solve_omo_batch(game, device_configs, *engine, threads);
    for (std::size_t k = 0; k < solved.size(); ++k) {
      solved[k].device = Device::cuda;
      results[on_device[k]] = std::move(solved[k]);
    }
    finished = static_cast<int>(solved.size());
    if (progress) progress(finished, total);
  }
  const int n = static_cast<int>(on_cpu.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 0 ? threads : omp_get_max_threads())
  for (int k = 0; k < n; ++k) {
    results[on_cpu[k]] = solve(game, configs[on_cpu[k]]);
    if (progress) {
#pragma omp critical(bidsim_mesob_batch_progress)
      progress(++finished, total);
    }
  }
  return results;
}

std::vector<SolverConfig> frontier_configs(const AuctionGame& game, const SolverConfig& base,
                                           const FrontierOptions& options) {
  if (options.budgets < 2)
    throw std::invalid_argument("frontier_configs: budgets " + std::to_string(options.budgets) + ", expected >= 2");
  SolverConfig c = base;
  c.kind = SolverKind::mesob_omo;
  c.record_every = 0;
  c.exact_consistency = true;
  if (!options.iterations_given) c.iterations = std::max(c.iterations, kFrontierIterations);
  if (!options.rho2_given) c.weights.rho2 = kFrontierRho2;
  if (!options.multiplier_every_given || c.multiplier_every <= 0) c.multiplier_every = kFrontierMultiplierEvery;
  if (c.tol == 0) c.tol = 1e-9;
  SolverConfig mfc = c;
  mfc.kind = SolverKind::mfc;
  mfc.multiplier_every = 0;
  mfc.tol = std::min(c.tol, 1e-10);  // the max-F end to within 1e-6 of F needs a tight residual; mfc gets it in tens of steps
  const double top = solve(game, mfc).exploitability;
  std::vector<SolverConfig> configs;
  SolverConfig equilibrium = c;
  equilibrium.kind = SolverKind::mf_omo;
  configs.push_back(equilibrium);
  for (int k = 0; k < options.budgets; ++k) {
    SolverConfig b = c;
    b.weights.lambda1 = 1;
    b.weights.lambda2 = 0;
    b.weights.budget = top * std::pow(1e-4, 1.0 - double(k) / (options.budgets - 1));
    configs.push_back(b);
  }
  configs.push_back(mfc);
  return configs;
}

double run_omo_iterations(const AuctionGame& game, const SolverConfig& config, int iterations) {
  OmoIterate it(game, config);
  double objective = 0;
  for (int k = 0; k < iterations; ++k) objective = it.step().objective;
  return objective;
}

}  // namespace bidsim::mesob
