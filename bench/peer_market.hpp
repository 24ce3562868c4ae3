// The market step that bench/peers/torch_market.py reimplements in vectorized PyTorch: a file-valued
// GSP market built in memory, and the dump of its inputs and bidsim's outputs that the peer reads.
// Shared by bench_market (CPU backend) and bench_cuda (CUDA backend); header-only, bench code only.
#pragma once

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/core/market_state.hpp"
#include "engine/facade/scenario.hpp"

namespace bidsim_bench {

// The peer's market: 4099 agents (prime, so file_market's stride gives distinct agents per row),
// 2^18 impressions of 32 candidates, GSP with 3 slots, reserve 0.01, one step, no budgets.
inline constexpr int kPeerAgents = 4099, kPeerImpressions = 1 << 18, kPeerCandidates = 32, kPeerSlots = 3;

// A file-valued market built in memory (no CSV): M impressions of K candidates each, values
// continuous in (0, 1), one step. The auction reads 8 bytes per candidate: a memory-bound step.
inline bidsim::Scenario file_market(int agents, int impressions, int candidates, int slots, std::uint32_t seed) {
  bidsim::Scenario s = bidsim::parse_scenario(
      "name: file-bench\nmarket: {envs: 1, steps: 1}\nagents: {count: " + std::to_string(agents) +
          ", budget: .inf}\nmechanism: {type: " + (slots > 1 ? "gsp" : "second_price") +
          ", slots: " + std::to_string(slots) + ", reserve: 0.01}\nbudget: {overspend: truncate}\n",
      "file-bench");
  bidsim::FileValues& f = s.values.file;
  s.values.model = bidsim::ValueModel::file;
  f.impressions = {impressions};
  f.step_offset = {0, impressions};
  f.row_offset.resize(static_cast<std::size_t>(impressions) + 1);
  f.agent.resize(static_cast<std::size_t>(impressions) * candidates);
  f.value.resize(f.agent.size());
  f.max_candidates = candidates;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(0.001f, 1.0f);
  for (int j = 0; j <= impressions; ++j) f.row_offset[j] = static_cast<std::int64_t>(j) * candidates;
  for (std::size_t r = 0; r < f.agent.size(); ++r) {
    // Distinct agents per row: a random start and a stride coprime with the agent count.
    const std::size_t j = r / candidates, k = r % candidates;
    f.agent[r] = static_cast<std::int32_t>((j * 2654435761u + k * 97u) % static_cast<std::size_t>(agents));
    f.value[r] = value(rng);
  }
  return s;
}

inline bidsim::Scenario peer_market() {
  return file_market(kPeerAgents, kPeerImpressions, kPeerCandidates, kPeerSlots, 11);
}

// The peer's multipliers: uniform in [0.5, 1.5), fixed seed.
inline std::vector<float> peer_multipliers() {
  std::vector<float> multipliers(kPeerAgents);
  std::mt19937 rng(5);
  for (float& m : multipliers) m = std::uniform_real_distribution<float>(0.5f, 1.5f)(rng);
  return multipliers;
}

enum class PeerBackend : std::int32_t { cpu = 0, cuda = 1 };

// Layout (little-endian): int32 N, M, K, S, backend (0 cpu, 1 cuda), threads; float64 reserve;
// float64 bidsim_step_ms (median); int32 agent[M*K]; float32 value[M*K]; float32 multiplier[N];
// int64 wins[N]; float64 cost[N]; float64 value_won[N]; int32 bid_count[N].
inline void write_peer_dump(const std::string& path, const bidsim::Scenario& s, const std::vector<float>& multipliers,
                            PeerBackend backend, int threads, double step_ms, const bidsim::MarketState& st) {
  std::ofstream out(path, std::ios::binary);
  const std::int32_t header[6] = {s.agents.count, static_cast<std::int32_t>(s.values.file.impressions[0]),
                                  s.values.file.max_candidates, s.mechanism.slots, static_cast<std::int32_t>(backend),
                                  threads};
  const double reserve = s.mechanism.reserve;
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  out.write(reinterpret_cast<const char*>(&reserve), sizeof reserve);
  out.write(reinterpret_cast<const char*>(&step_ms), sizeof step_ms);
  out.write(reinterpret_cast<const char*>(s.values.file.agent.data()), s.values.file.agent.size() * 4);
  out.write(reinterpret_cast<const char*>(s.values.file.value.data()), s.values.file.value.size() * 4);
  out.write(reinterpret_cast<const char*>(multipliers.data()), multipliers.size() * 4);
  out.write(reinterpret_cast<const char*>(st.wins.data()), st.wins.size() * 8);
  out.write(reinterpret_cast<const char*>(st.cost.data()), st.cost.size() * 8);
  out.write(reinterpret_cast<const char*>(st.value.data()), st.value.size() * 8);
  out.write(reinterpret_cast<const char*>(st.step_bid_count.data()), st.step_bid_count.size() * 4);
}

}  // namespace bidsim_bench
