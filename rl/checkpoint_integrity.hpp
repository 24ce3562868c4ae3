// Checkpoint integrity: a checksum of the whole file and a hash of the resolved scenario travel in
// the ZIP comment of checkpoint.pt (LibTorch archives are ZIP files; readers, torch included, skip the
// comment), so a bit-flipped or truncated checkpoint, or one resumed on another market, is refused in
// one line instead of loading and silently changing results. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bidsim::rl {

// FNV-1a, 64 bits, as 16 lowercase hex digits: detects corruption, not tampering.
std::string fnv1a64_hex(const std::string& bytes);

// A hash of the market a checkpoint was trained on: the scenario document after every --set, with
// the keys that may differ between runs of the same market removed (seed, market.envs, learning).
std::string scenario_hash(const std::string& scenario_path, const std::vector<std::string>& overrides);

// Writes the seal into the ZIP comment of `path` (a freshly written archive, before its rename).
// `metadata` may hold {"scenario_hash", H}; it is recorded so later runs can compare.
void seal_checkpoint_file(const std::string& path, const std::vector<std::pair<std::string, std::string>>& metadata);

struct CheckpointSeal {
  bool sealed = false;      // the comment carries a bidsim seal
  bool intact = false;      // its checksum matches the file
  std::string scenario_hash;
};
// Reads the seal of `path` (no torch involved). A file that is not a ZIP archive reads as unsealed.
CheckpointSeal read_checkpoint_seal(const std::string& path);

// Throws a one-line UsageError when `path` is unsealed, corrupt, or sealed for another market than
// `current_scenario_hash` (skipped when empty), unless `allow_mismatch` (the explicit
// --allow-checkpoint-mismatch flag, which the message names).
void verify_checkpoint(const std::string& path, const std::string& current_scenario_hash, bool allow_mismatch);

// Throws a one-line UsageError for a --set learning.* override that cannot apply to a trained
// checkpoint (the network shape and the training hyper-parameters are fixed by it). `allowed_prefixes`
// lists the learning keys the command still reads (e.g. "learning.best_response." for evaluate).
// The learning keys a resumed run may still change (step sizes, iteration count, constraint levels,
// evaluation); the network shape, initialization, optimizer kind and algorithm come from the checkpoint.
inline const std::vector<std::string> kResumableLearningKeys = {
    "learning.iterations", "learning.epsilon", "learning.xi", "learning.lr_", "learning.unified_solution_steps",
    "learning.dual_", "learning.min_log_std", "learning.best_response."};

void refuse_checkpoint_overrides(const std::vector<std::string>& overrides, const std::string& checkpoint,
                                 const std::vector<std::string>& allowed_prefixes);

}  // namespace bidsim::rl
