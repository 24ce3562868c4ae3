// Batched MESOB-OMO: B OMO configurations of one game iterated side by side by an engine (the CUDA
// batch of cuda/mesob_batch.cu, or its host reference), and the driver that turns the downloaded
// iterates into SolveResults with the same records as solve().
#pragma once

#include <memory>
#include <vector>

#include "mesob/solvers.hpp"

namespace bidsim::mesob {

// B configurations in lockstep on global iteration numbers; each stops at its own iteration count.
// Every configuration starts at y = z = 0, d = Γ(uniform policy), Adam moments 0 (as solve() does).
class OmoBatchEngine {
 public:
  virtual ~OmoBatchEngine() = default;
  virtual const char* name() const = 0;
  virtual int size() const = 0;
  // Steps first + 1 .. first + steps of every configuration (asynchronous on a device).
  virtual void advance(int first, int steps) = 0;
  // d of every configuration ([B][T+1][S][A]) and its terms f^MESOB-OMO at the current iterate.
  virtual void read(std::vector<double>& d, std::vector<OmoTerms>& terms) = 0;
  // The whole iterate: y [B][T+1][S], z and d [B][T+1][S][A].
  virtual void read_iterates(std::vector<double>& y, std::vector<double>& z, std::vector<double>& d) = 0;
};

// The host reference: the same per-configuration body (omo_advance, on SerialLanes) the CUDA kernel runs, one
// configuration per OpenMP iteration (`threads` <= 0: all cores). Bit-identical to solve().
std::unique_ptr<OmoBatchEngine> make_host_omo_batch(const AuctionGame& game, const std::vector<OmoStepConfig>& configs,
                                                    int threads = 0);
// The CUDA batch (one device warp per configuration). UsageError when this build has no CUDA backend
// or no device is present. The game's arrays are copied to the device here.
std::unique_ptr<OmoBatchEngine> make_cuda_omo_batch(const AuctionGame& game, const std::vector<OmoStepConfig>& configs);

// Solves OMO-kind configurations (is_omo; std::invalid_argument otherwise) on `engine`, built from
// omo_step_config of the same configurations in the same order. The engine advances from one record
// point to the next (the union of every configuration's record points); at each, d and the terms are
// read back and the records (exploitability, welfare of Γ(Π(d))) are computed on the host with OpenMP
// over configurations. SolveResult::device is set by the caller.
std::vector<SolveResult> solve_omo_batch(const AuctionGame& game, const std::vector<SolverConfig>& configs,
                                         OmoBatchEngine& engine, int threads = 0);

}  // namespace bidsim::mesob
