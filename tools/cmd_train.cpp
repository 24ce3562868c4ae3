// `bidsim train` (BPG, bpg_zero, independent, cooperative) and `bidsim evaluate` (a checkpoint or a
// built-in policy): progress on stdout, DIR/train.csv per iteration, DIR/summary.json, DIR/checkpoint.pt.
// Under MPI every rank collects its block of each rollout batch (rl/rollout.cpp) and computes the same
// update from the gathered batch; rank 0 alone prints and writes; every rank resumes from the checkpoint.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "engine/mpi/communicator.hpp"
#include "engine/core/errors.hpp"
#include "engine/facade/scenario.hpp"
#include "rl/checkpoint_integrity.hpp"
#include "rl/evaluate.hpp"
#include "rl/learning_config.hpp"
#include "rl/trainer.hpp"
#include "tools/commands.hpp"
#include "tools/evaluation_output.hpp"
#include "tools/output.hpp"
#include "tools/progress.hpp"

namespace bidsim {

namespace {

namespace fs = std::filesystem;
using namespace bidsim::rl;

// The engine steps on the CPU in this version; the policies go where LibTorch can put them. Ranks on
// one node take one GPU each, by local rank.
torch::Device torch_device(const std::string& text) {
  const Device d = parse_device(text);
  const bool cuda = torch::cuda::is_available();
  if (d == Device::cuda && !cuda)
    throw UsageError("--device cuda: LibTorch sees no CUDA device (this LibTorch may be a CPU build); use --device cpu");
  if (d == Device::cpu || !cuda) return torch::Device(torch::kCPU);
  const int gpus = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dist::Communicator::world().local_rank() % gpus));
}

// CPU threads of this rank for the market and for LibTorch. Several ranks on a node split its cores;
// LibTorch's reductions depend on its thread count, so runs meant to be compared bit for bit across
// rank counts pin it (--threads N or OMP_NUM_THREADS=N, the same N for every rank count).
int configure_threads(int requested) {
  const int threads = threads_per_rank(requested);
  if (threads > 0) torch::set_num_threads(threads);
  return threads;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : "\n") + s;
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string line; std::getline(ss, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// Field `index` (0-based) of one CSV row of train.csv.
std::string csv_field(const std::string& row, int index) {
  std::size_t start = 0;
  for (int k = 0; k < index; ++k) start = row.find(',', start) + 1;
  return row.substr(start, row.find(',', start) - start);
}

constexpr int kLambdaBarColumn = 3;  // of kTrainHeader

// One row per iteration; `seconds` stays last (tests compare rows without it).
const char* kTrainHeader =
    "iteration,social_welfare,revenue,lambda_bar,max_lambda_normalized,lambda_positive,xi,xi_over_lambda_bar,"
    "unified_solution_return,unified_gain_mean,unified_gain_max,lambda_se_mean,lambda_se_max,"
    "norm_l1,norm_ls,norm_lg,norm_lw,norm_step,policy_log_std,seconds";

std::string csv_row(const IterationRecord& r) {
  std::ostringstream o;
  o << std::setprecision(9) << r.iteration << ',' << r.social_welfare << ',' << r.revenue << ',' << r.lambda_bar << ','
    << r.max_lambda_normalized << ',' << r.lambda_positive << ',' << r.xi << ',' << r.xi_over_lambda_bar << ','
    << r.unified_solution_return << ',' << r.unified_gain_mean << ',' << r.unified_gain_max << ',' << r.lambda_se_mean
    << ',' << r.lambda_se_max << ',' << r.norm_l1 << ',' << r.norm_ls << ',' << r.norm_lg << ',' << r.norm_lw << ','
    << r.norm_step << ',' << r.policy_log_std << ',' << r.seconds;
  return o.str();
}

// A finite number ≥ 0 (CLI::NonNegativeNumber lets NaN through: every comparison with NaN is false).
CLI::Validator finite_non_negative() {
  return CLI::Validator(
      [](std::string& text) {
        double v = 0;
        std::size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || !std::isfinite(v) || v < 0) return "got '" + text + "', expected a finite number >= 0";
        return std::string();
      },
      "FINITE>=0");
}

// A whole number ≥ 0 that fits a long long (CLI::NonNegativeNumber's message prints DBL_MAX).
CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& text) {
        std::size_t used = 0;
        long long v = -1;
        try {
          v = std::stoll(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || v < 0) return "got '" + text + "', expected a whole number >= 0";
        return std::string();
      },
      "INTEGER>=0");
}

// Progress of evaluate_policy on a ProgressLine: the phase, the best-response step, work in env-episodes
// against its upper bound (the stopping rule may end the best responses early).
ProgressCallback evaluation_progress(ProgressLine& line) {
  return [&line](const EvaluationProgress& p) {
    std::string detail = p.phase;
    if (std::string(p.phase) == "best responses") detail += " step " + std::to_string(p.step) + "/" + std::to_string(p.max_steps);
    line.update(detail, p.done, p.total, std::string(p.phase) == "best responses");
  };
}

// --- train ---------------------------------------------------------------------------------------

struct TrainOptions {
  CommonOptions common;
  std::string algo, resume;
  double epsilon = -1, xi = -1;
  int iterations = -1, checkpoint_every = 10;
  bool allow_mismatch = false;  // --allow-checkpoint-mismatch: resume a corrupt or foreign checkpoint anyway
};

int run_train(const TrainOptions& o) {
  const std::string path = o.common.scenario.empty() ? scenario_path("default.yaml") : o.common.scenario;
  std::vector<std::string> overrides = overrides_of(o.common);
  // Resuming without --seed continues with the checkpoint's seed.
  std::uint64_t seed = 0;
  std::optional<CheckpointInfo> resume_info;
  if (!o.resume.empty()) {
    // Checksum and market first (rl/checkpoint_integrity.hpp); a resume keeps the network and its settings.
    verify_checkpoint(o.resume, scenario_hash(path, overrides), o.allow_mismatch);
    refuse_checkpoint_overrides(o.common.sets, o.resume, kResumableLearningKeys);
    resume_info = read_checkpoint_info(o.resume);
    if (o.common.seed < 0) overrides.push_back("seed=" + std::to_string(resume_info->seed));
  }
  const Scenario scenario = load_scenario(path, overrides);
  shard_for_this_rank(scenario, "the rollout batch of train");  // a bad launch fails here, on every rank
  seed = scenario.seed;
  LearningConfig config = load_learning_config(path, overrides);
  if (!o.algo.empty()) config.algorithm = parse_algorithm(o.algo);
  if (o.epsilon >= 0) config.epsilon = o.epsilon;
  if (o.xi >= 0) config.xi = o.xi;
  if (o.iterations >= 0) config.iterations = o.iterations;
  const torch::Device device = torch_device(o.common.device);
  const int threads = configure_threads(o.common.threads);
  Trainer trainer(scenario, config, device, seed, threads);
  if (resume_info) trainer.load(o.resume);  // every rank resumes from it; refuses another algorithm, seed or N
  prepare_output_dir_on_root(o.common.out, o.common.force || resume_info.has_value());

  std::vector<std::string> rows;
  if (resume_info && !o.common.out.empty()) {  // keep the rows of the run being resumed, if they are here
    std::ifstream old(fs::path(o.common.out) / "train.csv");
    std::string line;
    std::getline(old, line);
    while (std::getline(old, line))
      if (!line.empty() && std::stoi(line.substr(0, line.find(','))) <= trainer.iteration()) rows.push_back(line);
  }
  const std::vector<std::pair<std::string, std::string>> metadata = {{"scenario", path},
                                                                      {"overrides", join_lines(overrides)},
                                                                      {"scenario_hash", scenario_hash(path, overrides)}};
  auto write_progress = [&] {
    if (o.common.out.empty() || !is_output_rank()) return;
    std::string csv = std::string(kTrainHeader) + "\n";
    for (const std::string& r : rows) csv += r + "\n";
    write_file_atomic(o.common.out, "train.csv", csv);
    trainer.save((fs::path(o.common.out) / "checkpoint.pt").string(), metadata);
  };

  if (!o.common.quiet)
    std::cout << "bidsim train: " << to_string(config.algorithm) << " on " << scenario.name << " (" << path << "), "
              << scenario.agents.count << " agents x " << scenario.market.envs << " envs x " << scenario.market.steps
              << " steps, seed " << seed << ", epsilon " << config.epsilon << ", policies on " << device.str()
              << ", market on " << trainer.market_backend() << "\n";
  const int report_every = std::max(1, config.iterations / 20);
  const int first_iteration = trainer.iteration();
  double train_seconds = 0;
  // λ̄ of every iteration of the run so far: the kept rows of a resumed run (its own --out), then ours, so
  // the summary describes the whole run, not only this invocation (a resume equals the uninterrupted run).
  std::vector<double> lambda_bars;
  for (const std::string& r : rows) lambda_bars.push_back(std::strtod(csv_field(r, kLambdaBarColumn).c_str(), nullptr));
  int binding = static_cast<int>(std::count_if(lambda_bars.begin(), lambda_bars.end(), [](double l) { return l > 0; }));
  IterationRecord last;
  ProgressLine train_progress("train", "iterations", progress_mode_of(o.common));
  const int iterations_to_run = std::max(0, config.iterations - first_iteration);
  while (trainer.iteration() < config.iterations) {
    last = trainer.iterate();
    train_progress.update("iteration " + std::to_string(last.iteration) + "/" + std::to_string(config.iterations),
                          last.iteration - first_iteration, iterations_to_run);
    train_seconds += last.seconds;
    binding += last.lambda_bar > 0;
    lambda_bars.push_back(last.lambda_bar);
    rows.push_back(csv_row(last));
    if (!o.common.quiet && (last.iteration % report_every == 0 || last.iteration == config.iterations)) {
      const int done = last.iteration - first_iteration;
      std::cout << std::defaultfloat << std::setprecision(6) << "  iter " << std::setw(5) << last.iteration << "  welfare " << std::setw(10) << last.social_welfare
                << "  revenue " << std::setw(10) << last.revenue << "  lambda_bar " << std::setw(9) << last.lambda_bar
                << "  (> 0 in " << binding << "/" << done << ")";
      if (last.lambda_bar > 0) std::cout << "  xi/lambda_bar " << std::setprecision(3) << last.xi_over_lambda_bar;
      std::cout << std::setprecision(6) << "  |L1| " << last.norm_l1 << "  |Ls| " << last.norm_ls << "  |Lg'| "
                << last.norm_lg << "  |Lw*| " << last.norm_lw << "  " << std::fixed << std::setprecision(2)
                << last.seconds << " s, ETA " << std::setprecision(0)
                << train_seconds / done * (config.iterations - last.iteration) << " s\n"
                << std::defaultfloat << std::setprecision(6) << std::flush;
    }
    if (o.checkpoint_every > 0 && last.iteration % o.checkpoint_every == 0) write_progress();
  }
  write_progress();
  train_progress.finish();

  const bool bpg_family = config.algorithm == Algorithm::bpg || config.algorithm == Algorithm::bpg_zero;
  ProgressLine progress_line("evaluate", "env-episodes", progress_mode_of(o.common));
  const EvaluationResult e = evaluate_policy(scenario, {actor_of(trainer.policy()), "checkpoint"},
                                             bpg_family ? actor_of(trainer.unified_solution()) : Actor(), config,
                                             device, seed, threads, evaluation_progress(progress_line));
  progress_line.finish();
  const std::vector<double> memory_mb = peak_memory_mb_per_rank();
  if (!is_output_rank()) return 0;
  if (!o.common.quiet) print_evaluation(std::cout, e, bpg_family ? config.epsilon : -1.0);
  else std::cout << "social_welfare " << e.social_welfare << " max_exploitability " << e.max_exploitability << "\n";
  if (!o.common.out.empty()) {
    nlohmann::json j = evaluation_json(e, scenario.agents.count);
    j["command"] = "train";
    j["algorithm"] = to_string(config.algorithm);
    j["scenario"] = path;
    j["seed"] = seed;
    j["iterations"] = trainer.iteration();
    j["epsilon"] = config.epsilon;
    j["xi"] = config.xi;
    j["complies"] = complies(e, config.epsilon);  // the interval's upper end within ε
    j["lambda_bar"] = lambda_bars.empty() ? 0.0 : lambda_bars.back();  // the last iteration's, resumed or not
    j["iterations_lambda_positive"] = binding;  // over train.csv's rows: the whole run when resumed into its --out
    j["xi_margin"] = config.xi_margin;
    j["optimizer"] = config.optimizer == OptimizerKind::sgd ? "sgd" : "adam";
    j["train_seconds"] = train_seconds;
    j["peak_memory_mb_per_rank"] = memory_mb;
    j["device"] = device.str();
    j["market_device"] = trainer.market_backend();
    write_file_atomic(o.common.out, "summary.json", j.dump(2) + "\n");
    if (!o.common.quiet)
      std::cout << "wrote " << o.common.out << "/summary.json, train.csv and checkpoint.pt\n";
  }
  return 0;
}

// --- evaluate ------------------------------------------------------------------------------------

struct EvaluateOptions {
  std::vector<std::string> inputs;  // [CHECKPOINT] [SCENARIO]
  std::string policy;
  std::vector<std::string> sets;
  long long seed = -1;
  std::string device = "auto", out;
  int threads = 0;
  bool quiet = false;
  double epsilon = -1;  // < 0: not given (a checkpoint's own ε is used for the verdict)
  std::string progress;  // "" = not given: automatic, none with --quiet
  bool force = false;  // overwrite an earlier run's outputs in --out
  bool allow_mismatch = false;  // --allow-checkpoint-mismatch
};

int run_evaluate(const EvaluateOptions& o) {
  std::string checkpoint, path;
  std::vector<std::string> overrides;
  std::optional<CheckpointInfo> info;
  if (!o.policy.empty()) {
    if (o.inputs.size() > 1)
      throw UsageError("evaluate: with --policy give at most one positional argument (the scenario), got " +
                       std::to_string(o.inputs.size()));
    path = o.inputs.empty() ? scenario_path("default.yaml") : o.inputs[0];
  } else {
    if (o.inputs.empty() || o.inputs.size() > 2)
      throw UsageError("evaluate: expected CHECKPOINT [SCENARIO] or --policy NAME [SCENARIO]");
    checkpoint = o.inputs[0];
    verify_checkpoint(checkpoint, "", o.allow_mismatch);  // its checksum before LibTorch reads it
    info = read_checkpoint_info(checkpoint);
    path = o.inputs.size() == 2 ? o.inputs[1] : info->metadata["scenario"];
    if (path.empty()) throw UsageError(checkpoint + ": the checkpoint names no scenario; give one after it");
    overrides = split_lines(info->metadata["overrides"]);
  }
  for (const std::string& s : o.sets) overrides.push_back(s);
  if (o.seed >= 0) overrides.push_back("seed=" + std::to_string(o.seed));
  if (info) {  // only the best-response settings still apply to a trained policy; the market must match
    refuse_checkpoint_overrides(o.sets, checkpoint, {"learning.best_response."});
    verify_checkpoint(checkpoint, scenario_hash(path, overrides), o.allow_mismatch);
  }
  Scenario scenario = load_scenario(path, overrides);
  LearningConfig config = load_learning_config(path, overrides);
  const torch::Device device = torch_device(o.device);
  const int threads = configure_threads(o.threads);

  std::unique_ptr<Trainer> trainer;
  BasePolicy base;
  Actor unified;
  if (info) {
    config.algorithm = info->algorithm;
    trainer = std::make_unique<Trainer>(scenario, config, device, info->seed, threads);
    trainer->load(checkpoint);
    base = {actor_of(trainer->policy()), checkpoint};
    if (info->algorithm == Algorithm::bpg || info->algorithm == Algorithm::bpg_zero)
      unified = actor_of(trainer->unified_solution());
  } else {
    scenario = with_builtin_policy(scenario, o.policy);
    base = {Actor(), o.policy};
  }
  prepare_output_dir_on_root(o.out, o.force);
  if (!o.quiet)
    std::cout << "bidsim evaluate: " << base.label << " on " << scenario.name << " (" << path << "), "
              << scenario.agents.count << " agents, seed " << scenario.seed << "\n";
  // A compliance verdict needs an ε: --epsilon, or the one the checkpoint was trained with.
  if (o.epsilon >= 0) config.epsilon = o.epsilon;
  const double epsilon = o.epsilon >= 0 || info ? config.epsilon : -1.0;
  ProgressLine progress_line("evaluate", "env-episodes", progress_mode_of(o.quiet, o.progress));
  const EvaluationResult e = evaluate_policy(scenario, base, unified, config, device, scenario.seed, threads,
                                             evaluation_progress(progress_line));
  progress_line.finish();
  if (!is_output_rank()) return 0;
  if (!o.quiet) print_evaluation(std::cout, e, epsilon);
  else std::cout << "social_welfare " << e.social_welfare << " max_exploitability " << e.max_exploitability << "\n";
  if (!o.out.empty()) {
    nlohmann::json j = evaluation_json(e, scenario.agents.count);
    j["command"] = "evaluate";
    if (epsilon >= 0) {
      j["epsilon"] = epsilon;
      j["complies"] = complies(e, epsilon);
    }
    j["policy"] = base.label;
    j["scenario"] = path;
    j["seed"] = scenario.seed;
    j["device"] = device.str();
    j["market_device"] = e.market_backend;
    write_file_atomic(o.out, "summary.json", j.dump(2) + "\n");
    if (!o.quiet) std::cout << "wrote " << o.out << "/summary.json\n";
  }
  return 0;
}

}  // namespace

void add_learning_commands(CLI::App& app, CommandList& commands) {
  auto t = std::make_shared<TrainOptions>();
  CLI::App* train = app.add_subcommand(
      "train",
      "Learn a shared bidding policy: bpg (Algorithm 1 of the BPG paper: max social welfare s.t. epsilon-Nash),\n"
      "bpg_zero (its ablation), independent (each agent its own return) or cooperative (social welfare).\n"
      "Then measures exploitability by batched best responses. Outputs with --out DIR: DIR/train.csv (one row\n"
      "per iteration), DIR/summary.json, DIR/checkpoint.pt (resume with --resume).");
  add_common_options(*train, t->common, "default.yaml");
  train->add_option("--algo", t->algo, "bpg, bpg_zero, independent or cooperative (default: learning.algorithm, bpg)");
  train->add_option("--epsilon", t->epsilon, "epsilon of the epsilon-NE constraint, normalized by social welfare")
      ->check(finite_non_negative());
  train->add_option("--xi", t->xi, "xi floor of eq. (11), normalized by social welfare (xi >= (1 + learning.xi_margin) lambda_bar)")
      ->check(finite_non_negative());
  train->add_option("--iterations", t->iterations, "outer iterations K")->check(CLI::NonNegativeNumber);
  train->add_option("--resume", t->resume, "continue from a checkpoint.pt (same scenario, algorithm and seed)");
  train->add_option("--checkpoint-every", t->checkpoint_every, "write train.csv and checkpoint.pt every K iterations")
      ->check(CLI::NonNegativeNumber);
  train->add_flag("--allow-checkpoint-mismatch", t->allow_mismatch,
                  "Resume from a checkpoint whose checksum or market does not match (not recommended)");
  commands.push_back({train, [t] { return run_train(*t); }});

  auto e = std::make_shared<EvaluateOptions>();
  CLI::App* evaluate = app.add_subcommand(
      "evaluate",
      "Measure a joint policy: social welfare, revenue and per-agent exploitability (best response with the\n"
      "others fixed; max normalized by social welfare, eq. 15). The policy is a checkpoint.pt from `train`\n"
      "(its scenario is used unless another is given) or --policy truthful | constant:X | scenario.");
  evaluate->add_option("inputs", e->inputs, "CHECKPOINT [SCENARIO], or [SCENARIO] with --policy");
  evaluate->add_option("--policy", e->policy, "built-in policy for every agent: truthful, constant:X, or scenario");
  evaluate->add_option("--set", e->sets, "Override a scenario key (repeatable)")->take_all()->allow_extra_args(false);
  evaluate->add_option("--seed", e->seed, "Random seed (same as --set seed=S)")
      ->check(non_negative_integer())
      ->check(CLI::Validator(check_seed_text, "SEED"));
  evaluate->add_option("--device", e->device, "auto, cpu or cuda (where the policies run)");
  evaluate->add_option("--out", e->out, "Directory for summary.json")->check(CLI::Validator(check_out_text, "DIR"));
  evaluate->add_flag("--force", e->force, "Overwrite the outputs of an earlier run in --out");
  evaluate->add_option("--threads", e->threads, "CPU threads of the market (0 = all cores)")
      ->check(non_negative_integer())
      ->check(CLI::Validator(check_threads_text, "N"));
  evaluate->add_flag("--quiet", e->quiet, "Print only the one-line result (no progress unless --progress is given)");
  evaluate->add_option("--epsilon", e->epsilon,
                       "epsilon of the epsilon-NE constraint (normalized by social welfare) for the compliance verdict:\n"
                       "complies when the upper end of max exploitability's interval is within it")
      ->check(finite_non_negative());
  add_progress_option(*evaluate, e->progress);
  evaluate->add_flag("--allow-checkpoint-mismatch", e->allow_mismatch,
                     "Load a checkpoint whose checksum or market does not match (not recommended)");
  commands.push_back({evaluate, [e] { return run_evaluate(*e); }});
}

}  // namespace bidsim
