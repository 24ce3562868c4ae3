// Solvers of the MESOB auction game: MESOB-OMO by projected gradient or projected Adam (§2.2),
// its special cases MF-OMO (λ1 = 0, Appendix C.1) and mean-field control (λ2 = 0), online mirror
// descent, fictitious play, and the equilibrium-agnostic heuristic (Appendix B, Algorithm 1).
// solve_batch runs many configurations at once (a Pareto sweep in one call), the OMO ones optionally
// as one CUDA batch (omo_batch.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/facade/simulator.hpp"
#include "mesob/mean_field.hpp"

namespace bidsim::mesob {

enum class SolverKind { mesob_omo, mf_omo, mfc, omd, fp, heuristic };  // order = CLI names
// The OMO step rules (OmoStepRule, mean_field_types.hpp); order = CLI names.
enum class OptimizerKind { adam, gradient, armijo, mirror };

const char* to_string(SolverKind kind);
const char* to_string(OptimizerKind kind);
// "mesob-omo" | "mf-omo" | "mfc" | "omd" | "fp" | "heuristic"; false when unknown.
bool parse_solver(const std::string& text, SolverKind& kind);
// "adam" | "gradient" | "armijo" | "mirror"; false when unknown.
bool parse_optimizer(const std::string& text, OptimizerKind& kind);

// Appendix B, Algorithm 1: each round simulates `auctions` second-price auctions with n bidders
// drawn from μ (CTR) and α (bids), takes the 25th/75th percentiles [a, b] of the winning bids and
// moves α toward Uniform[a, b] with step η. α_0 is a normal (mean, variance) truncated to the
// bid grid, or uniform when variance is 0.
struct HeuristicParams {
  double eta = 0.7;
  int auctions = 10;     // κ
  int rounds = 1000;
  int runs = 100;        // independent runs averaged
  double initial_mean = 1.5;
  double initial_variance = 1.44;
};

struct SolverConfig {
  SolverKind kind = SolverKind::mesob_omo;
  OmoWeights weights;          // used by mesob-omo; mf-omo uses C.1's (0, 1, 1, 1); mfc (0 ρ2: Lemma 4) below
  OptimizerKind optimizer = OptimizerKind::armijo;
  double lr = 0.01;            // step size (OMO solvers and OMD); the first trial step of armijo / mirror
  // OMO solvers: d kept consistent by projection (A_d d = b exactly) or the paper's ρ1 g^CS penalty.
  bool exact_consistency = true;
  // Stop once the optimality measure is <= tol (0: run every iteration): the projected-gradient
  // residual for the OMO solvers, exploitability (eq. 5) for OMD and FP. Also what `converged` means.
  double tol = 0;
  // OMO solvers: > 0 runs the augmented Lagrangian (OmoStepConfig::multiplier_every), so the
  // best-response equations (and a budget in weights.budget) hold exactly at convergence; 0 is the
  // paper's penalty form; < 0 the solver's default (effective_multiplier_every).
  int multiplier_every = -1;
  double adam_beta1 = 0.9, adam_beta2 = 0.999;
  int iterations = 1500;
  int record_every = 10;       // history every k iterations (and the last); 0 = final point only
  HeuristicParams heuristic;
  std::uint64_t seed = 1;      // heuristic draws
};

// The weights a solver actually optimizes (its λ's after the solver's own convention).
OmoWeights effective_weights(const SolverConfig& config);
// MF-OMO's default multiplier interval. Its penalty form stops at KKT points that are no equilibrium
// (exploitability 4.7e-4 on the one-stage paper game, 0.056 at t = 0..9); with multipliers moved every 20
// steps it reaches residual and exploitability 1e-6 on the paper game at every horizon 0..9 (in 3500 to
// 35,000 iterations), where intervals of 5, 10, 50, 100 or 200 fail at some horizon (docs/mesob-solvers.md).
inline constexpr int kMfOmoMultiplierEvery = 20;
// The interval a configuration runs with: its own when >= 0, else kMfOmoMultiplierEvery for mf-omo and 0
// (the paper's penalty form) for mesob-omo and mfc.
int effective_multiplier_every(const SolverConfig& config);
// mesob-omo, mf-omo and mfc: the solvers that iterate on (y, z, d) and can run as a device batch.
bool is_omo(SolverKind kind);
// The step rule of an OMO configuration (effective weights, optimizer, lr, betas, iterations).
OmoStepConfig omo_step_config(const SolverConfig& config);
std::vector<OmoStepConfig> omo_step_configs(const std::vector<SolverConfig>& configs);  // one per config
// Whether history is recorded after iteration `iteration` (every record_every, and the last).
bool is_record_iteration(const SolverConfig& config, int iteration);

struct IterationRecord {
  int iteration = 0;
  double objective = 0;        // f^MESOB-OMO for OMO solvers; exploitability for OMD / FP / heuristic
  double exploitability = 0;   // eq. (5) of the retrieved policy
  double welfare = 0;          // V(Γ(π)) of the retrieved policy
  double consistency = 0, best_response = 0, complementarity = 0;  // OMO terms (0 otherwise)
  // The optimality measure: the projected-gradient (KKT) residual of f^MESOB-OMO for the OMO solvers,
  // the exploitability for OMD, FP and the heuristic.
  double residual = 0;
};

struct SolveResult {
  SolverConfig config;
  Policy policy;               // [T+1][S][A]
  Flow flow;                   // Γ(policy)
  double exploitability = 0;   // eq. (5)
  Welfare welfare;             // of Γ(policy)
  OmoTerms final_terms;        // OMO solvers: terms at the last iterate
  double residual = 0;         // the optimality measure at the end (IterationRecord::residual)
  bool converged = false;      // residual <= config.tol
  int iterations_run = 0;      // iterations taken (fewer than config.iterations when tol stopped it)
  std::vector<IterationRecord> history;
  Device device = Device::cpu; // where the iterations ran (cpu or cuda)
};

// `progress`, when given, is called after each iteration with (iterations done, config.iterations) by the
// OMO solvers, OMD and FP (the heuristic reports nothing); it does not change the result.
using IterationProgress = std::function<void(int done, int iterations)>;
SolveResult solve(const AuctionGame& game, const SolverConfig& config, const IterationProgress& progress = {});

// Where solve_batch runs `configs` for a requested device: cpu, or cuda when the OMO-kind
// configurations go to the device. `cuda` without a CUDA build or without a device is a UsageError
// (one line, as for the market simulator); `automatic` picks cuda when both are there and the batch
// has at least kAutoDeviceMinConfigs OMO configurations. The threshold is an estimate, not yet measured
// on a GPU: one device thread runs one configuration several times slower than a CPU core, so a
// handful of configurations finish sooner on the CPU.
inline constexpr int kAutoDeviceMinConfigs = 64;
Device resolve_device(Device requested, const std::vector<SolverConfig>& configs);

// Independent configurations side by side. On the CPU: OpenMP over configurations (`threads` <= 0: all
// cores); results are identical to calling solve() one by one. On cuda (see resolve_device): the
// mesob-omo / mf-omo / mfc configurations iterate as one device batch (one GPU thread each, history
// downloaded at record points) while omd, fp and heuristic stay on the CPU; records, policies,
// exploitability and welfare are computed on the host from the downloaded d, so the fields are those of
// solve() and differ from it only by the ulps of the device's log and pow (see tests/test_mesob.cpp).
// Results are in input order; SolveResult::device says where each ran.
// `progress`, when given, is called (from one thread at a time) with the number of configurations
// finished so far and the total, after each configuration that finishes on the CPU and once the device
// batch is done.
using BatchProgress = std::function<void(int done, int total)>;
std::vector<SolveResult> solve_batch(const AuctionGame& game, const std::vector<SolverConfig>& configs,
                                     int threads = 0, Device device = Device::cpu,
                                     const BatchProgress& progress = {});

// The ε-constraint runs (`mesob --budget`, `mesob-pareto --method frontier`): max F subject to z·d <= ε
// with the best-response equations exact, both by the augmented Lagrangian, multipliers moved every
// kFrontierMultiplierEvery steps, kFrontierIterations iterations and ρ2 = kFrontierRho2 unless given.
inline constexpr int kFrontierMultiplierEvery = 100;
inline constexpr int kFrontierIterations = 50000;
inline constexpr double kFrontierRho2 = 10;

struct FrontierOptions {
  int budgets = 32;                     // exploitability budgets (>= 2)
  // Whether the base configuration's iterations / ρ2 / multiplier interval were set by the caller (and
  // are kept) rather than the scenario's defaults (replaced by the frontier's).
  bool iterations_given = false, rho2_given = false, multiplier_every_given = false;
};

// The ε-constraint sweep (`mesob-pareto --method frontier`): max F subject to z·d <= ε for `budgets`
// values of ε on a geometric grid from 1e-4 E_top to E_top, where E_top is the exploitability of mean-field
// control's policy (no point of the front needs more; one mfc solve here fixes it). Returns MF-OMO with
// multipliers (the equilibrium end), the budget configurations in increasing ε, and mfc (the max-F end),
// all with exact consistency and no records, ready for solve_batch.
std::vector<SolverConfig> frontier_configs(const AuctionGame& game, const SolverConfig& base,
                                           const FrontierOptions& options = {});

// The iteration loop of the OMO solvers without records, for benchmarks: returns the final objective.
double run_omo_iterations(const AuctionGame& game, const SolverConfig& config, int iterations);

}  // namespace bidsim::mesob
