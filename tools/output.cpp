// Human summary, summary.json and steps.csv for `bidsim simulate`.
#include "tools/output.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <vector>

#include "engine/facade/simulator.hpp"

namespace fs = std::filesystem;

namespace bidsim {

void prepare_output_dir(const std::string& dir, bool overwrite) {
  // The files that mark a directory as holding a run (every command writes one of them).
  static const char* const kRunFiles[] = {"summary.json", "checkpoint.pt", "train.csv", "rollout-rank0.h5"};
  if (!overwrite)
    for (const char* name : kRunFiles)
      if (fs::exists(fs::path(dir) / name))
        throw UsageError("--out " + dir + ": holds an earlier run (" + name +
                         "), expected a new directory (pass --force to overwrite it)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw UsageError("--out " + dir + ": cannot create the directory (" + ec.message() + ")");
}

void write_file_atomic(const std::string& dir, const std::string& name, const std::string& text) {
  const fs::path target = fs::path(dir) / name;
  const fs::path temporary = fs::path(dir) / ("." + name + ".tmp");
  {
    std::ofstream f(temporary, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      throw UsageError("--out " + dir + ": cannot write " + name);
    }
  }
  std::error_code ec;
  fs::rename(temporary, target, ec);
  if (ec) throw UsageError("--out " + dir + ": cannot rename " + temporary.string() + " to " + name);
}

namespace {

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

// 1234567 -> "1.23 M"
std::string si(double x) {
  const char* units[] = {"", " k", " M", " G", " T"};
  int u = 0;
  while (std::abs(x) >= 1000 && u < 4) { x /= 1000; ++u; }
  char buf[64];
  std::snprintf(buf, sizeof buf, u ? "%.3g%s" : "%.4g%s", x, units[u]);
  return buf;
}

std::string mechanism_text(const Scenario& s) {
  std::ostringstream o;
  if (s.mechanism.kind == MechanismKind::gsp) o << "GSP " << s.mechanism.slots << " slots";
  else o << "second price";
  if (s.mechanism.reserve > 0) o << ", reserve " << s.mechanism.reserve;
  o << ", " << to_string(s.candidates.mode);
  if (s.candidates.mode == CandidateMode::sparse) o << " K=" << s.candidates.per_impression;
  o << " candidates, " << to_string(s.values.model) << " values, overspend " << to_string(s.budget.overspend);
  return o.str();
}

}  // namespace

void print_simulation(std::ostream& out, const Scenario& s, const std::string& backend,
                      const SimulationResult& r, bool quiet) {
  const double pair_rate = r.impressions * r.envs * (s.candidates.mode == CandidateMode::sparse
                                                         ? s.candidates.per_impression : r.agents) / r.seconds;
  const std::string reward_name = to_string(s.reward);
  std::ostringstream line;
  line << "social welfare " << si(r.social_welfare) << " (" << reward_name << ")   revenue " << si(r.revenue)
       << "   " << fmt("%.3f", r.seconds) << " s";
  if (quiet) {
    out << line.str() << "\n";
    return;
  }
  out << "bidsim simulate: " << s.name << " (" << s.source << "), seed " << s.seed << ", backend " << backend << "\n";
  out << "  market    " << r.envs << " env x " << r.agents << " agents x " << r.steps << " steps, "
      << si(r.impressions) << " impressions per env; " << mechanism_text(s) << "\n";
  out << "  result    " << line.str() << "\n";
  out << "  speed     " << si(r.impressions * r.envs / r.seconds) << " auctions/s, " << si(pair_rate)
      << " bids/s (" << fmt("%.1f", 1e9 / pair_rate) << " ns per agent x impression), "
      << fmt("%.2f", r.passes_per_step) << " auction passes per step\n";

  // Per category: where the value and the money went.
  const int C = s.agents.categories;
  std::vector<double> count(C), ret(C), cost(C), budget(C), wins(C), conv(C), score(C);
  for (int i = 0; i < r.agents; ++i) {
    const int c = s.agents.category[i];
    count[c] += 1;
    ret[c] += r.reward[i];
    cost[c] += r.cost[i];
    budget[c] += s.agents.budget[i];
    wins[c] += r.wins[i];
    conv[c] += r.conversions[i];
    score[c] += r.has_score ? r.score[i] : 0.0;
  }
  out << "  by category (means over environments, sums over agents)\n";
  out << "    category  agents      return        cost   spent      wins" << (r.has_score ? "  conversions       score" : "") << "\n";
  for (int c = 0; c < C; ++c) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "    %8d  %6.0f  %10s  %10s  %5.1f%%  %8s", c, count[c], si(ret[c]).c_str(),
                  si(cost[c]).c_str(), budget[c] > 0 && std::isfinite(budget[c]) ? 100.0 * cost[c] / budget[c] : 0.0,
                  si(wins[c]).c_str());
    out << buf;
    if (r.has_score) {
      std::snprintf(buf, sizeof buf, "  %11s  %10s", si(conv[c]).c_str(), si(score[c]).c_str());
      out << buf;
    }
    out << "\n";
  }
  if (s.policies.size() > 1) {
    out << "  by policy (per agent, means over environments)\n";
    out << "    policy        type      agents      return        cost   spent      wins\n";
    for (const PolicyConfig& p : s.policies) {
      double n = 0, pr = 0, pc = 0, pb = 0, pw = 0;
      for (int i : p.agents) {
        n += 1;
        pr += r.reward[i];
        pc += r.cost[i];
        pb += s.agents.budget[i];
        pw += r.wins[i];
      }
      char buf[256];
      std::snprintf(buf, sizeof buf, "    %-12s  %-8s  %6.0f  %10s  %10s  %5.1f%%  %8s\n", p.name.c_str(), to_string(p.kind), n,
                    si(pr / n).c_str(), si(pc / n).c_str(), pb > 0 && std::isfinite(pb) ? 100.0 * pc / pb : 0.0,
                    si(pw / n).c_str());
      out << buf;
    }
  }
  std::vector<int> order(r.agents);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return r.reward[a] > r.reward[b]; });
  out << "  top agents by return:";
  for (int k = 0; k < std::min(5, r.agents); ++k)
    out << "  #" << order[k] << " " << si(r.reward[order[k]]);
  out << "\n";
}

namespace {

// summary.json's device_counters: every count per step (the steps of the episode, in order), its
// mean and max over the steps, and the totals inside steps, outside them (construction, reset, host
// copies of the state) and overall.
nlohmann::json device_counters_json(const DeviceCounters& c) {
  nlohmann::json per_step, outside, total, steps_total;
  DeviceCounts inside;
  for (const DeviceCounts& step : c.steps) inside += step;
  for (const auto& [name, field] : kDeviceCountFields) {
    std::vector<std::int64_t> values;
    std::int64_t max = 0;
    for (const DeviceCounts& step : c.steps) {
      values.push_back(step.*field);
      max = std::max(max, step.*field);
    }
    const double mean = c.steps.empty() ? 0.0 : static_cast<double>(inside.*field) / c.steps.size();
    per_step[name] = {{"mean", mean}, {"max", max}, {"values", values}};
    steps_total[name] = inside.*field;
    outside[name] = c.outside_steps.*field;
    total[name] = c.total.*field;
  }
  return {{"counted_by", "the backend's own calls, identical on a GPU and on the host emulator"},
          {"steps", c.steps.size()},
          {"per_step", per_step},
          {"steps_total", steps_total},
          {"outside_steps", outside},
          {"total", total}};
}

}  // namespace

void print_device_counters(std::ostream& out, const DeviceCounters& c) {
  DeviceCounts inside;
  for (const DeviceCounts& step : c.steps) inside += step;
  const double steps = c.steps.empty() ? 1.0 : static_cast<double>(c.steps.size());
  char line[256];
  std::snprintf(line, sizeof line,
                "  device    per step: %.1f kernel launches, %.1f CUB calls, %.1f memsets, %.2f host syncs, "
                "%.0f B host->device, %.0f B device->host\n",
                inside.kernel_launches / steps, inside.cub_calls / steps, inside.memsets / steps,
                inside.host_synchronizations / steps, inside.h2d_bytes / steps, inside.d2h_bytes / steps);
  out << line;
}

void write_simulation_json(const std::string& dir, const Scenario& s, const std::string& backend,
                           const SimulationResult& r, const std::vector<double>& peak_memory_mb,
                           const DeviceCounters* device_counters) {
  nlohmann::json j;
  j["command"] = "simulate";
  j["scenario"] = s.name;
  j["scenario_file"] = s.source;
  j["seed"] = s.seed;
  j["backend"] = backend;
  j["agents"] = r.agents;
  j["envs"] = r.envs;
  j["steps"] = r.steps;
  j["impressions"] = r.impressions;
  j["reward"] = to_string(s.reward);
  j["social_welfare"] = r.social_welfare;
  j["revenue"] = r.revenue;
  j["auction_passes_per_step"] = r.passes_per_step;
  j["seconds"] = r.seconds;
  if (!peak_memory_mb.empty()) j["peak_memory_mb_per_rank"] = peak_memory_mb;
  nlohmann::json per_agent;
  per_agent["return"] = r.reward;
  per_agent["value"] = r.value;
  per_agent["cost"] = r.cost;
  per_agent["wins"] = r.wins;
  per_agent["exposures"] = r.exposures;
  per_agent["conversions"] = r.conversions;
  per_agent["budget_spent"] = r.budget_spent;
  if (r.has_score) {
    per_agent["score"] = r.score;
    j["score"] = std::accumulate(r.score.begin(), r.score.end(), 0.0);
  }
  j["per_agent"] = per_agent;
  if (device_counters) j["device_counters"] = device_counters_json(*device_counters);
  write_file_atomic(dir, "summary.json", j.dump(2) + "\n");
}

void write_steps_csv(const std::string& dir, const SimulationResult& r) {
  std::ostringstream o;
  o << "step,impressions,auction_passes,active_agents,mean_multiplier,value,cost,reward,wins,exposures,conversions\n";
  o.precision(10);
  for (const StepRecord& x : r.steps_record)
    o << x.step << ',' << x.impressions << ',' << x.passes << ',' << x.active_agents << ',' << x.mean_multiplier
      << ',' << x.value << ',' << x.cost << ',' << x.reward << ',' << x.wins << ',' << x.exposures << ','
      << x.conversions << '\n';
  write_file_atomic(dir, "steps.csv", o.str());
}

}  // namespace bidsim
