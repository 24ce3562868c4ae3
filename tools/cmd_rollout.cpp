// `bidsim rollout`: one episode of the scenario's batch, every step and agent written to HDF5 for
// offline RL (tools/rollout_dataset.hpp; schema in README.md). Under MPI each rank simulates its block
// of environments and writes DIR/rollout-rank<r>.h5; the files' `env` datasets hold global env indices.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "engine/mpi/communicator.hpp"
#include "engine/core/errors.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "tools/commands.hpp"
#include "tools/output.hpp"
#include "tools/rollout_dataset.hpp"

#ifdef BIDSIM_HAVE_TORCH
#include "rl/evaluate.hpp"
#include "rl/learning_config.hpp"
#include "rl/rollout.hpp"
#include "rl/trainer.hpp"
#endif

namespace bidsim {

namespace {

namespace fs = std::filesystem;

struct RolloutOptions {
  CommonOptions common;
  std::string policy = "scenario";
  int deflate = 1;
  bool deterministic = false;
};

bool is_builtin_spec(const std::string& policy) {
  return policy == "scenario" || policy == "truthful" || policy.rfind("constant:", 0) == 0;
}

struct Written {
  double simulate_seconds = 0;  // the whole episode loop, writes included
};

// Progress of the episode, one unit per step written (every rank steps in lockstep; rank 0 reports).
void report_step(ProgressLine& progress, const MarketState& st) {
  progress.update("step " + std::to_string(st.step) + "/" + std::to_string(st.steps), st.step, st.steps);
}

Written rollout_builtin(const Scenario& shard, RolloutDatasetWriter& writer, int threads, ProgressLine& progress) {
  Simulator sim(shard, Device::cpu, threads);
  BuiltinPolicies policies(shard);
  std::vector<float> multipliers(static_cast<std::size_t>(shard.market.envs) * shard.agents.count);
  const auto start = std::chrono::steady_clock::now();
  sim.reset(0);
  while (!sim.done()) {
    writer.before_step(sim.state());
    policies.act(sim.state(), multipliers.data());
    sim.step(multipliers.data());
    writer.after_step(sim.state());
    report_step(progress, sim.state());
  }
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

#ifdef BIDSIM_HAVE_TORCH
// A checkpoint's θ acts for every agent (exploration noise on unless --deterministic): the collector
// shards the batch like `train` does and streams this rank's envs to the writer through its hooks.
Written rollout_checkpoint(const Scenario& scenario, const std::string& checkpoint, const std::vector<std::string>& overrides,
                           const std::string& scenario_file, RolloutDatasetWriter& writer, bool deterministic, int threads,
                           ProgressLine& progress) {
  const rl::CheckpointInfo info = rl::read_checkpoint_info(checkpoint);
  rl::LearningConfig config = rl::load_learning_config(scenario_file, overrides);
  config.algorithm = info.algorithm;
  rl::Trainer trainer(scenario, config, torch::Device(torch::kCPU), info.seed, threads);
  trainer.load(checkpoint);
  rl::RolloutCollector collector(rl::with_envs(scenario, scenario.market.envs), torch::Device(torch::kCPU), info.seed,
                                 threads);
  rl::RolloutRequest rq;
  rq.base = rl::actor_of(trainer.policy());
  rq.deterministic_base = deterministic;
  rq.before_step = [&](const MarketState& st) { writer.before_step(st); };
  rq.after_step = [&](const MarketState& st) {
    writer.after_step(st);
    report_step(progress, st);
  };
  const auto start = std::chrono::steady_clock::now();
  collector.collect(rq);
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}
#endif

int run_rollout(const RolloutOptions& o) {
  if (o.common.out.empty()) throw UsageError("rollout: --out DIR is required (the HDF5 files go there)");
  if (o.deflate < 0 || o.deflate > 9)
    throw UsageError("--deflate: got " + std::to_string(o.deflate) + ", expected 0 (off) to 9");
  const bool builtin = is_builtin_spec(o.policy);
  std::string path = o.common.scenario;
  std::vector<std::string> overrides = overrides_of(o.common);
  if (!builtin) {
#ifdef BIDSIM_HAVE_TORCH
    if (!fs::is_regular_file(o.policy))
      throw UsageError("--policy: got '" + o.policy + "', expected truthful, constant:X, scenario or a checkpoint.pt file");
    const rl::CheckpointInfo info = rl::read_checkpoint_info(o.policy);
    if (path.empty()) path = info.metadata.count("scenario") ? info.metadata.at("scenario") : "";
    std::vector<std::string> saved;
    std::stringstream lines(info.metadata.count("overrides") ? info.metadata.at("overrides") : "");
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) saved.push_back(line);
    overrides.insert(overrides.begin(), saved.begin(), saved.end());
#else
    throw UsageError("--policy " + o.policy + ": checkpoints need a bidsim built with LibTorch; use truthful, constant:X or scenario");
#endif
  }
  if (path.empty()) path = scenario_path("default.yaml");
  const Scenario scenario = builtin ? with_builtin_policy(load_scenario(path, overrides), o.policy) : load_scenario(path, overrides);
  const Scenario shard = shard_for_this_rank(scenario, "");
  if (o.common.device == "cuda") throw UsageError("--device cuda: rollout runs the market on the CPU in this version");
  parse_device(o.common.device);
  prepare_output_dir_on_root(o.common.out, o.common.force);
  // Every rank's file lands in --out: the whole batch, uncompressed, is the bound to check.
  require_free_disk(o.common.out, rollout_raw_bytes(scenario), "the rollout (uncompressed)");

  const dist::Communicator& comm = dist::Communicator::world();
  const std::string file = (fs::path(o.common.out) / ("rollout-rank" + std::to_string(comm.rank()) + ".h5")).string();
  RolloutDatasetInfo info;
  info.policy = o.policy;
  info.rank = comm.rank();
  info.ranks = comm.size();
  info.deflate_level = o.deflate;
  const int threads = threads_per_rank(o.common.threads);
  RolloutDatasetWriter writer(file, shard, info);
  Written w;
  ProgressLine progress("rollout", "steps", progress_mode_of(o.common));
  if (builtin) {
    w = rollout_builtin(shard, writer, threads, progress);
  } else {
#ifdef BIDSIM_HAVE_TORCH
    w = rollout_checkpoint(scenario, o.policy, overrides, path, writer, o.deterministic, threads, progress);
#endif
  }
  progress.finish();
  writer.commit();

  // Report totals: bytes over the slowest rank's time (they write in parallel).
  const double raw = comm.sum_in_rank_order(static_cast<double>(writer.raw_bytes()));
  const double disk = comm.sum_in_rank_order(static_cast<double>(fs::file_size(file)));
  const std::vector<double> write_s = comm.all_gather(std::vector<double>{writer.write_seconds()});
  const std::vector<double> total_s = comm.all_gather(std::vector<double>{w.simulate_seconds});
  const double slowest_write = *std::max_element(write_s.begin(), write_s.end());
  const double slowest_total = *std::max_element(total_s.begin(), total_s.end());
  if (!comm.is_root()) return 0;
  const double gb = 1e9;
  std::cout << std::fixed << std::setprecision(3);
  if (!o.common.quiet)
    std::cout << "bidsim rollout: " << scenario.name << " (" << path << "), policy " << o.policy << ", seed "
              << scenario.seed << ", " << scenario.market.envs << " env x " << scenario.agents.count << " agents x "
              << scenario.market.steps << " steps, " << comm.size() << " rank(s)\n"
              << "  wrote   " << comm.size() << " file(s) " << (fs::path(o.common.out) / "rollout-rank<r>.h5").string()
              << ": " << raw / gb << " GB raw, " << disk / gb << " GB on disk (deflate " << o.deflate << ")\n";
  std::cout << "  rate    " << raw / gb / slowest_write << " GB/s raw into HDF5 (" << slowest_write
            << " s in HDF5 calls), " << raw / gb / slowest_total << " GB/s end to end (" << slowest_total
            << " s with the simulation)\n" << std::defaultfloat;
  return 0;
}

}  // namespace

void add_rollout_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<RolloutOptions>();
  CLI::App* cmd = app.add_subcommand(
      "rollout",
      "Write one episode of E environments x T steps x N agents to HDF5 for offline RL: observations,\n"
      "bid multipliers, rewards, costs, values, conversions, wins, exposures, bids, budgets and per-step\n"
      "impressions and auction passes (schema in README.md). One file per MPI rank: DIR/rollout-rank<r>.h5.");
  add_common_options(*cmd, o->common, "default.yaml");
  cmd->add_option("--policy", o->policy,
                  "Who bids: scenario (its built-in policies, default), truthful, constant:X, or a checkpoint.pt");
  cmd->add_option("--deflate", o->deflate, "Compression: 0 = off, 1-9 = shuffle + deflate level (default 1)");
  cmd->add_flag("--deterministic", o->deterministic, "A checkpoint's policy acts with its mean (no exploration noise)");
  commands.push_back({cmd, [o] { return run_rollout(*o); }});
}

}  // namespace bidsim
