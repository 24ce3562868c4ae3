// Checkpoint seals in the ZIP end-of-central-directory comment (see checkpoint_integrity.hpp).
// Layout of the end record (APPNOTE 4.3.16): signature 50 4b 05 06, ..., comment length (2 bytes,
// little endian) at offset 20, then the comment. The checksum covers every byte before the comment
// length, so the seal can be written into, and checked on, a file without rewriting the archive.
#include "rl/checkpoint_integrity.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/core/errors.hpp"
#include "engine/facade/yaml_reader.hpp"

namespace bidsim::rl {

namespace {

constexpr const char* kSealPrefix = "bidsim-checkpoint-seal v1 fnv1a64=";
constexpr std::size_t kEndRecord = 22;  // bytes of the end record without its comment

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot read the checkpoint");
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Offset of the end record whose comment runs exactly to the end of `file`, or npos.
std::size_t end_record(const std::string& file) {
  if (file.size() < kEndRecord) return std::string::npos;
  const std::size_t lowest = file.size() > kEndRecord + 0xffff ? file.size() - kEndRecord - 0xffff : 0;
  for (std::size_t at = file.size() - kEndRecord + 1; at-- > lowest;) {
    if (file.compare(at, 4, "PK\x05\x06") != 0) continue;
    const std::size_t comment = static_cast<unsigned char>(file[at + 20]) |
                                (static_cast<std::size_t>(static_cast<unsigned char>(file[at + 21])) << 8);
    if (at + kEndRecord + comment == file.size()) return at;
  }
  return std::string::npos;
}

}  // namespace

std::string fnv1a64_hex(const std::string& bytes) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

std::string scenario_hash(const std::string& scenario_path, const std::vector<std::string>& overrides) {
  YAML::Node root = load_yaml_file(scenario_path, overrides);
  if (root.IsMap()) {
    root.remove("seed");
    root.remove("learning");
    if (root["market"].IsMap()) root["market"].remove("envs");
  }
  YAML::Emitter out;
  out << YAML::Flow << root;
  return fnv1a64_hex(out.c_str());
}

void seal_checkpoint_file(const std::string& path, const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string file = read_all(path);
  const std::size_t end = end_record(file);
  if (end == std::string::npos) throw UsageError(path + ": the checkpoint just written is not a ZIP archive");
  std::string hash;
  for (const auto& [key, value] : metadata)
    if (key == "scenario_hash") hash = value;
  file.resize(end + 20);  // drop an earlier comment (and its length)
  const std::string comment = kSealPrefix + fnv1a64_hex(file) + " scenario=" + (hash.empty() ? "-" : hash);
  file += static_cast<char>(comment.size() & 0xff);
  file += static_cast<char>(comment.size() >> 8);
  file += comment;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << file;
  out.flush();
  if (!out) throw UsageError(path + ": cannot write the checkpoint's seal");
}

CheckpointSeal read_checkpoint_seal(const std::string& path) {
  const std::string file = read_all(path);
  CheckpointSeal seal;
  const std::size_t end = end_record(file);
  if (end == std::string::npos) return seal;
  const std::string comment = file.substr(end + kEndRecord);
  const std::string prefix = kSealPrefix;
  if (comment.compare(0, prefix.size(), prefix) != 0) return seal;
  seal.sealed = true;
  const std::string recorded = comment.substr(prefix.size(), 16);
  seal.intact = recorded == fnv1a64_hex(file.substr(0, end + 20));
  const std::size_t at = comment.find(" scenario=");
  if (at != std::string::npos) seal.scenario_hash = comment.substr(at + 10);
  if (seal.scenario_hash == "-") seal.scenario_hash.clear();
  return seal;
}

void verify_checkpoint(const std::string& path, const std::string& current_scenario_hash, bool allow_mismatch) {
  if (allow_mismatch) return;
  const std::string advice = " (pass --allow-checkpoint-mismatch to load it anyway)";
  const CheckpointSeal seal = read_checkpoint_seal(path);
  if (!seal.sealed)
    throw UsageError(path + ": the checkpoint carries no bidsim checksum (truncated, not written by bidsim, or "
                     "written before checksums)" + advice);
  if (!seal.intact)
    throw UsageError(path + ": the checkpoint is corrupt (its checksum does not match its bytes)" + advice);
  if (!current_scenario_hash.empty() && !seal.scenario_hash.empty() && seal.scenario_hash != current_scenario_hash)
    throw UsageError(path + ": the checkpoint was trained on another market (scenario hash " + seal.scenario_hash +
                     ", this run's is " + current_scenario_hash + "; seed, market.envs and learning may differ)" +
                     advice);
}

void refuse_checkpoint_overrides(const std::vector<std::string>& overrides, const std::string& checkpoint,
                                 const std::vector<std::string>& allowed_prefixes) {
  for (const std::string& o : overrides) {
    const std::string key = o.substr(0, o.find('='));
    if (key != "learning" && key.rfind("learning.", 0) != 0) continue;
    bool allowed = false;
    for (const std::string& prefix : allowed_prefixes) allowed = allowed || key.rfind(prefix, 0) == 0;
    if (!allowed)
      throw UsageError("--set " + o + ": cannot apply to the trained checkpoint " + checkpoint +
                       " (its network and training settings are fixed by it)" +
                       (allowed_prefixes.size() == 1 ? ", expected only " + allowed_prefixes.front() + "* keys" : ""));
  }
}

}  // namespace bidsim::rl
